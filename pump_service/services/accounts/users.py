"""User accounts: add, list, disable, set a password. Usernames are stored lower-case."""

import re
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select, update

from pump_service.domain.access import Role
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.account_models import ApiToken, LoginSession, UserAccount
from pump_service.services.accounts.passwords import check_password_policy, hash_password

__all__ = [
    "add_user",
    "any_enabled_admin",
    "disable_user",
    "find_user",
    "list_users",
    "normalise_username",
    "set_password",
]

# As an Actor's user id (services/actor.py), lower-case only: the id is what the audit trail shows.
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@:-]{0,63}$")


def normalise_username(username: str) -> str:
    """The stored form of ``username`` (trimmed, lower-case).

    Raises:
        RuleViolationError: not 1-64 letters, digits or ``._@:-`` starting with a letter or digit.
    """
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise RuleViolationError(
            "a username is 1-64 letters, digits or ._@:- (a user id, not a name)", field="username"
        )
    return name


def find_user(session: Session, username: str) -> UserAccount | None:
    try:
        name = normalise_username(username)
    except RuleViolationError:
        return None
    return session.exec(select(UserAccount).where(UserAccount.username == name)).first()


def _existing(session: Session, username: str) -> UserAccount:
    user = find_user(session, username)
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def add_user(
    session: Session,
    username: str,
    *,
    role: Role,
    password: str,
    display_name: str | None = None,
    now: datetime,
    created_by: str,
    min_password_length: int = 12,
) -> UserAccount:
    """A new enabled account.

    Raises:
        RuleViolationError: a bad username or display name, or a password the policy refuses.
        ConflictError: the username is taken (in any letter case).
    """
    name = normalise_username(username)
    shown = (display_name or name).strip()
    if not shown or len(shown) > 100:
        raise RuleViolationError("a display name is 1-100 characters", field="display_name")
    check_password_policy(password, min_length=min_password_length)
    if session.exec(select(UserAccount).where(UserAccount.username == name)).first() is not None:
        raise ConflictError(f"user {name!r} exists")
    user = UserAccount(
        username=name,
        display_name=shown,
        role=Role(role),
        password_hash=hash_password(password),
        created_at=now,
        created_by=created_by,
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> Sequence[UserAccount]:
    return session.exec(select(UserAccount).order_by(col(UserAccount.username))).all()


def disable_user(session: Session, username: str, *, now: datetime) -> UserAccount:
    """Disable the account and end its open sessions and tokens at once (not at their expiry).

    Raises:
        NotFoundError: no such user.
    """
    user = _existing(session, username)
    if user.disabled_at is None:
        user.disabled_at = now
        session.add(user)
    session.exec(
        update(LoginSession)
        .where(col(LoginSession.user_id) == user.id, col(LoginSession.closed_at).is_(None))
        .values(closed_at=now)
    )
    session.exec(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    session.flush()
    return user


def set_password(session: Session, username: str, password: str, *, min_password_length: int = 12) -> UserAccount:
    """A new password; it also clears a lockout (an admin has vouched for the person).

    Raises:
        NotFoundError: no such user.
        RuleViolationError: the policy refuses the password.
    """
    user = _existing(session, username)
    check_password_policy(password, min_length=min_password_length)
    user.password_hash = hash_password(password)
    user.failed_attempts = 0
    user.locked_until = None
    session.add(user)
    session.flush()
    return user


def any_enabled_admin(session: Session) -> bool:
    found = session.exec(
        select(UserAccount.id).where(UserAccount.role == Role.ADMIN, col(UserAccount.disabled_at).is_(None))
    ).first()
    return found is not None
