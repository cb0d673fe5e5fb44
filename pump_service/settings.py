"""Service settings from the environment (``PUMP_<FIELD>``) or the data directory's ``.env``.

Built once in ``cli``/``api`` and passed down; there is no module-level instance, so tests hand
their own ``Settings(database_url=...)`` to ``create_app`` and the services. ``load_settings``
is what the command line uses: it also reads ``<data directory>/.env``. A ``.env`` in the
working directory is not read: like the old relative database path, it made a command's
behaviour depend on where it was started.
"""

import ipaddress
import os
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pump_service.locations import DATABASE_FILE, ENV_FILE, absolute_sqlite_url, default_data_dir, sqlite_url

__all__ = ["DatabaseOrigin", "Settings", "data_dir_from_environment", "is_loopback", "load_settings"]


class DatabaseOrigin(StrEnum):
    """Where the database URL came from, so ``pump-service info`` can say why this database."""

    DATA_DIR = "data_dir"  # not given: pump.db in the data directory
    GIVEN = "given"  # PUMP_DATABASE_URL or --database-url, used as given
    RESOLVED = "resolved"  # given as a relative SQLite path, made absolute against the working directory


def _absolute(path: Path) -> Path:
    return path.expanduser().resolve()


def data_dir_from_environment() -> Path:
    """``PUMP_HOME`` from the process environment, else the platform's user data directory."""
    home = os.environ.get("PUMP_HOME")
    return _absolute(Path(home)) if home else default_data_dir()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUMP_", env_file=None, env_ignore_empty=True, extra="ignore")

    home: Path = Field(
        default_factory=default_data_dir, description="data directory: the default database and .env live here"
    )
    database_url: str = Field("", description="SQLAlchemy URL; default sqlite:///<home>/pump.db")
    device_url: str = Field("sim://", description="programmer port URL (pyserial URL or sim://)")
    station_id: str = Field("station-1", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    clinic_tz: str = Field("UTC", description="IANA zone in which times are shown to people")
    warn_deviation_pct: float = Field(10.0, gt=0)
    alert_deviation_pct: float = Field(20.0, gt=0)
    safety_margin_days: float = Field(3.0, ge=0)
    # The default clinic, created on first use; `pump-service clinic` changes it afterwards.
    clinic_id: str = Field("main", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    clinic_name: str = Field("Refill clinic", min_length=1, max_length=100)
    clinic_working_days: list[int] = Field([0, 1, 2, 3, 4], description="0 = Monday")
    clinic_opens_at: str = Field("08:00", pattern=r"^[0-2][0-9]:[0-5][0-9]$")
    clinic_closes_at: str = Field("16:00", pattern=r"^[0-2][0-9]:[0-5][0-9]$")
    clinic_slot_minutes: int = Field(30, gt=0, le=480)
    clinic_capacity_per_day: int = Field(16, gt=0, le=500)
    reminder_days: list[int] = Field([7, 1], description="days before an appointment a reminder goes out")
    overdue_grace_hours: float = Field(2.0, ge=0, description="after an appointment's end, a missing refill escalates")
    place_of_service: str = Field("11", pattern=r"^[0-9]{2}$", description="CMS POS of this station (11 = office)")
    payer_profile: str = Field("medicare", description="billing payer profile when a visit names none")
    charge_destination_url: str | None = Field(None, description="billing system endpoint that receives charges")
    charge_drop_folder: str | None = Field(None, description="or a folder the billing system picks files up from")
    charge_export_format: str = Field("fhir", pattern=r"^(fhir|hl7|hl7v2|csv)$")
    tick_interval_s: float = Field(60.0, gt=0, description="how often the scheduler looks for due work")
    # Notification channels (services/scheduling/delivery.py); a channel without its settings is off.
    smtp_host: str | None = Field(None, description="SMTP server that sends notification e-mail")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str | None = Field(None, description="sender address of notification e-mail")
    smtp_starttls: bool = Field(False, description="upgrade the SMTP connection with STARTTLS")
    smtp_ca_file: Path | None = Field(
        None, description="CA certificates to verify the SMTP server by (default: the system's)"
    )
    smtp_username: str | None = Field(None, description="SMTP login (with smtp_password)")
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(10.0, gt=0)
    notify_email_to: dict[str, list[str]] = Field(
        default_factory=dict,
        description='recipients by notification kind, level or "*", e.g. {"escalation": ["oncall@x"], "*": ["desk@x"]}',
    )
    notify_webhook_url: str | None = Field(None, description="http(s) endpoint that receives notifications as JSON")
    notify_webhook_timeout_s: float = Field(10.0, gt=0)
    notify_max_age_hours: float = Field(72.0, gt=0, description="older open notifications are not sent")
    delivery_claim_s: float = Field(
        900.0,
        ge=30,
        le=86_400,
        description="seconds a dispatcher holds a notification or charge it is sending; a dead one's is retried after",
    )

    # Accounts and sign-in (services/accounts). Limits are generous for a shift, strict for a walk-away.
    session_idle_minutes: float = Field(30.0, gt=0, le=24 * 60, description="a login session unused this long ends")
    session_max_hours: float = Field(12.0, gt=0, le=7 * 24, description="a login session ends this long after sign-in")
    login_max_failures: int = Field(5, ge=1, le=100, description="failed logins in a row that lock an account")
    login_lockout_minutes: float = Field(15.0, gt=0, le=24 * 60, description="how long a locked account is refused")
    password_min_length: int = Field(12, ge=8, le=128, description="shortest password an account may be given")
    cookie_secure: bool | None = Field(
        None,
        description="mark the session cookie Secure (HTTPS only). Default (unset): Secure unless the server "
        "listens on a loopback address (127.0.0.1, ::1, localhost), where the station's own browser talks plain "
        "HTTP that never leaves the machine; behind a TLS proxy on loopback set it to true",
    )
    serve_host: str = Field("127.0.0.1", description="the address `serve` listens on (set by `serve --host`)")

    _database_origin: DatabaseOrigin = PrivateAttr(DatabaseOrigin.GIVEN)

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return _absolute(value)

    @model_validator(mode="after")
    def _absolute_database(self) -> "Settings":
        """Fix the database to one absolute place now, whatever the working directory is later."""
        if not self.database_url:
            self.database_url = sqlite_url(self.home / DATABASE_FILE)
            self._database_origin = DatabaseOrigin.DATA_DIR
            return self
        resolved = absolute_sqlite_url(self.database_url, Path.cwd())
        if resolved != self.database_url:
            self.database_url = resolved
            self._database_origin = DatabaseOrigin.RESOLVED
        return self

    @property
    def loopback(self) -> bool:
        """Whether the server listens only on this machine (no one else can reach it)."""
        return is_loopback(self.serve_host)

    @property
    def session_cookie_secure(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else not self.loopback

    @property
    def database_origin(self) -> DatabaseOrigin:
        return self._database_origin

    @property
    def env_file(self) -> Path:
        """The settings file read by :func:`load_settings` (if it exists)."""
        return self.home / ENV_FILE

    @field_validator("clinic_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_tz)

    @field_validator("notify_email_to", mode="before")
    @classmethod
    def _recipient_map(cls, value: Any) -> Any:
        """A plain list of addresses means every notification goes to them."""
        return {"*": value} if isinstance(value, list | tuple) else value

    @field_validator("notify_email_to")
    @classmethod
    def _addresses(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for route, addresses in value.items():
            for address in addresses:
                if address.count("@") != 1 or any(c.isspace() or c in "<>,;" for c in address):
                    raise ValueError(f"not an e-mail address for {route!r}: {address!r}")
        return value


def is_loopback(host: str) -> bool:
    """``host`` is a loopback address or ``localhost`` (never a wildcard such as 0.0.0.0)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, then ``<data directory>/.env``, then the defaults.

    The data directory itself comes from the process environment only (a ``PUMP_HOME`` inside
    that ``.env`` cannot move the file it is read from).
    """
    home = data_dir_from_environment()
    env_file = home / ENV_FILE
    values = {"home": home, **{k: v for k, v in overrides.items() if v is not None}}
    return Settings(_env_file=env_file if env_file.is_file() else None, **values)
