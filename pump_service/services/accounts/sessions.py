"""Login sessions for the pages: a random cookie token, stored only as its hash, with two limits.

A session ends when it has not been used for ``session_idle`` or ``session_max_age`` after sign-in
(whichever comes first), at sign-out, or when its account is disabled.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from pump_service.errors import AuthenticationError
from pump_service.persistence.account_models import LoginSession, UserAccount
from pump_service.services.accounts.policy import AccessPolicy
from pump_service.services.accounts.secrets_hash import new_secret, secret_key

__all__ = ["OpenedSession", "close_session", "open_session", "resolve_session"]

# last_seen_at is written at most this often: idle expiry needs minutes, not a write per request.
_TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str  # for the cookie; not stored
    row: LoginSession


def open_session(
    session: Session, user: UserAccount, station_id: str, *, now: datetime, policy: AccessPolicy | None = None
) -> OpenedSession:
    rules = policy or AccessPolicy()
    token = new_secret()
    row = LoginSession(
        id=secret_key(token),
        user_id=user.id or 0,
        station_id=station_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + rules.session_max_age,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return OpenedSession(token=token, row=row)


def resolve_session(
    session: Session, token: str, *, now: datetime, policy: AccessPolicy | None = None
) -> tuple[LoginSession, UserAccount]:
    """The live session of cookie ``token`` and its enabled account; marks it used.

    Raises:
        AuthenticationError: unknown, closed, idle too long, past its absolute limit, or its account disabled.
    """
    rules = policy or AccessPolicy()
    row = session.get(LoginSession, secret_key(token)) if token else None
    if row is None or row.closed_at is not None:
        raise AuthenticationError("not signed in")
    if now >= row.expires_at or now - row.last_seen_at >= rules.session_idle:
        raise AuthenticationError("the session has expired; sign in again")
    user = session.get(UserAccount, row.user_id)
    if user is None or user.disabled_at is not None:
        raise AuthenticationError("not signed in")
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
        session.flush()
    return row, user


def close_session(session: Session, session_id: str, *, now: datetime) -> None:
    """End the session with this id (the stored hash); ending an ended one is a no-op."""
    row = session.get(LoginSession, session_id)
    if row is not None and row.closed_at is None:
        row.closed_at = now
        session.add(row)
        session.flush()
