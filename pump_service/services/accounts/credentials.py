"""Checking a username and password: one generic refusal, constant work, lockout after failures.

Unknown user, wrong password and disabled account all give the same message, and an unknown
user still costs one argon2 verification, so neither the answer nor its timing tells whether an
account exists. ``max_failures`` wrong passwords in a row lock the account for ``lockout``;
while locked even the right password is refused (:class:`LoginThrottledError`, HTTP 429).
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Engine
from sqlmodel import Session

from pump_service.domain.access import Role
from pump_service.errors import AuthenticationError
from pump_service.persistence.account_models import UserAccount
from pump_service.persistence.db import transaction
from pump_service.services.accounts.passwords import hash_password, verify_password
from pump_service.services.accounts.policy import AccessPolicy
from pump_service.services.accounts.users import find_user

__all__ = ["BAD_CREDENTIALS", "LoginThrottledError", "SignedInUser", "authenticate", "verify_credentials"]

BAD_CREDENTIALS = "unknown username or wrong password"


class LoginThrottledError(AuthenticationError):
    """Too many failed sign-ins: the account is locked for ``retry_after_s`` seconds (HTTP 429)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {max(1, retry_after_s // 60)} min")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """What a caller needs of a checked account after its transaction has ended."""

    id: int
    username: str
    display_name: str
    role: Role


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-only-for-equal-timing")


def verify_credentials(
    session: Session, username: str, password: str, *, now: datetime, policy: AccessPolicy | None = None
) -> UserAccount:
    """The enabled account ``username`` if ``password`` is its password.

    A failure is counted on the account in ``session``: it lasts only if the caller's transaction
    commits (see :func:`authenticate` for a check that always keeps the count).

    Raises:
        LoginThrottledError: the account is locked (even if the password is right).
        AuthenticationError: unknown user, wrong password or disabled account (one message).
    """
    rules = policy or AccessPolicy()
    user = find_user(session, username)
    if user is None:
        verify_password(password, _dummy_hash())
        raise AuthenticationError(BAD_CREDENTIALS)
    if user.locked_until is not None and user.locked_until > now:
        raise LoginThrottledError(int((user.locked_until - now).total_seconds()) + 1)
    matches = verify_password(password, user.password_hash)
    if not matches or user.disabled_at is not None:
        if matches:  # a disabled account with its right password: refused, but not a guess
            raise AuthenticationError(BAD_CREDENTIALS)
        user.failed_attempts += 1
        if user.failed_attempts >= rules.max_failures:
            user.locked_until = now + rules.lockout
            user.failed_attempts = 0
        session.add(user)
        session.flush()
        raise AuthenticationError(BAD_CREDENTIALS)
    if user.failed_attempts or user.locked_until is not None:
        user.failed_attempts = 0
        user.locked_until = None
        session.add(user)
        session.flush()
    return user


def authenticate(
    engine: Engine, username: str, password: str, *, now: datetime, policy: AccessPolicy | None = None
) -> SignedInUser:
    """:func:`verify_credentials` in its own transaction, so a failure is counted even though it raises.

    Use it before (not inside) a transaction that rolls back on the error, e.g. a co-signature.
    """
    failure: AuthenticationError | None = None
    signed: SignedInUser | None = None
    with transaction(engine) as session:
        try:
            user = verify_credentials(session, username, password, now=now, policy=policy)
            signed = SignedInUser(
                id=user.id or 0, username=user.username, display_name=user.display_name, role=user.role
            )
        except AuthenticationError as exc:
            failure = exc  # commit the counted failure, then raise
    if failure is not None:
        raise failure
    if signed is None:
        raise AuthenticationError(BAD_CREDENTIALS)
    return signed
