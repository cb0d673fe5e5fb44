"""Accounts, login sessions, API tokens and registered stations.

Secrets are never stored: a session row's id and a token row's id are the SHA-256 hex of the
value the client holds, so a copy of the database opens no session. Usernames are stored
lower-case; the role is one ``Role`` per account.
"""

from datetime import datetime

from sqlmodel import Field, SQLModel

from pump_service.domain.access import Role
from pump_service.persistence.types import StrEnumType, UTCDateTime

__all__ = ["ApiToken", "LoginSession", "StationRow", "UserAccount"]


class UserAccount(SQLModel, table=True):
    """A person (or a bench) who signs in: lower-case username, one role, an argon2id hash."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(max_length=100)
    role: Role = Field(sa_type=StrEnumType(Role))
    password_hash: str = Field(max_length=255)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_attempts: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)


class LoginSession(SQLModel, table=True):
    """A browser's signed-in session on one station; ``id`` is the SHA-256 hex of the cookie token."""

    __tablename__ = "login_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    station_id: str = Field(max_length=64)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)  # absolute limit, whatever the activity
    last_seen_at: datetime = Field(sa_type=UTCDateTime)  # for the idle limit
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token of one account bound to one station; ``id`` is the SHA-256 hex of the token."""

    __tablename__ = "api_token"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    station_id: str = Field(max_length=64)
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StationRow(SQLModel, table=True):
    """A registered refill station: its clinic and the programmer port the server opens for it."""

    __tablename__ = "station"

    id: str = Field(primary_key=True, max_length=64)
    clinic_id: str = Field(foreign_key="clinic.clinic_id", index=True, max_length=32)
    programmer_url: str = Field(max_length=255)
    is_test_bench: bool = Field(default=False)
    label: str = Field(default="", max_length=100)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
