"""API tokens (benches, integrations): the plaintext is shown once; only its hash is stored."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from pump_service.domain.access import Role
from pump_service.errors import AuthenticationError, NotFoundError, RuleViolationError
from pump_service.persistence.account_models import ApiToken, UserAccount
from pump_service.services.accounts.secrets_hash import new_secret, secret_key
from pump_service.services.accounts.stations import station_of
from pump_service.services.accounts.users import find_user

__all__ = ["IssuedToken", "issue_token", "list_tokens", "resolve_token", "revoke_token"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # print once; not stored
    row: ApiToken


def issue_token(
    session: Session,
    username: str,
    *,
    station_id: str,
    now: datetime,
    label: str = "",
    expires_at: datetime | None = None,
) -> IssuedToken:
    """A new bearer token for an enabled account, bound to a registered, enabled station.

    Raises:
        NotFoundError: no such user or station.
        RuleViolationError: the account is disabled, the station disabled (or not a test bench for a
            bench account), or the expiry not in the future.
    """
    user = find_user(session, username)
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    if user.disabled_at is not None:
        raise RuleViolationError(f"user {user.username!r} is disabled", field="username")
    station = station_of(session, station_id)
    if station.disabled:
        raise RuleViolationError(f"station {station_id!r} is disabled", field="station")
    if user.role is Role.BENCH and not station.is_test_bench:
        raise RuleViolationError(
            f"a bench account acts only through a test bench; {station_id!r} is not one", field="station"
        )
    if expires_at is not None and expires_at <= now:
        raise RuleViolationError("a token's expiry must be in the future", field="expires_at")
    if len(label) > 100:
        raise RuleViolationError("a label has at most 100 characters", field="label")
    token = new_secret()
    row = ApiToken(
        id=secret_key(token),
        user_id=user.id or 0,
        station_id=station.id,
        label=label,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return IssuedToken(token=token, row=row)


def resolve_token(session: Session, token: str, *, now: datetime) -> tuple[ApiToken, UserAccount]:
    """The live token row of bearer ``token`` and its enabled account.

    Raises:
        AuthenticationError: unknown, revoked, expired, or its account disabled (one message).
    """
    row = session.get(ApiToken, secret_key(token)) if token else None
    if row is None or row.revoked_at is not None or (row.expires_at is not None and now >= row.expires_at):
        raise AuthenticationError("invalid, expired or revoked token")
    user = session.get(UserAccount, row.user_id)
    if user is None or user.disabled_at is not None:
        raise AuthenticationError("invalid, expired or revoked token")
    return row, user


def revoke_token(session: Session, token: str, *, now: datetime) -> None:
    """Revoke bearer ``token`` (by its plaintext); revoking twice is a no-op.

    Raises:
        NotFoundError: no such token.
    """
    row = session.get(ApiToken, secret_key(token))
    if row is None:
        raise NotFoundError("no such token")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.flush()


def list_tokens(session: Session, user: UserAccount) -> Sequence[ApiToken]:
    return session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(col(ApiToken.created_at))).all()
