"""Password hashing (argon2id through pwdlib) and the password policy."""

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from pump_service.errors import RuleViolationError

__all__ = ["MAX_PASSWORD_LENGTH", "check_password_policy", "hash_password", "verify_password"]

MAX_PASSWORD_LENGTH = 256  # long passphrases yes, a megabyte to hash no


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


def check_password_policy(password: str, *, min_length: int) -> None:
    """Refuse a password too short to resist guessing (length is what matters; no composition rules).

    Raises:
        RuleViolationError: shorter than ``min_length``, longer than the cap, or blank.
    """
    if len(password) < min_length:
        raise RuleViolationError(f"a password needs at least {min_length} characters", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise RuleViolationError(f"a password has at most {MAX_PASSWORD_LENGTH} characters", field="password")
    if not password.strip():
        raise RuleViolationError("a password cannot be only spaces", field="password")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches; an overlong password is refused without hashing it."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    return _hasher().verify(password, password_hash)
