"""Service settings from the environment (``PUMP_<FIELD>``) or a ``.env`` file.

Built once in ``cli``/``api`` and passed down; there is no module-level instance, so tests hand
their own ``Settings(database_url=...)`` to ``create_app`` and the services.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUMP_", env_file=".env", env_ignore_empty=True, extra="ignore")

    database_url: str = Field("sqlite:///var/pump.db", description="SQLAlchemy URL; SQLite file by default")
    device_url: str = Field("sim://", description="programmer port URL (pyserial URL or sim://)")
    station_id: str = Field("station-1", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    clinic_tz: str = Field("UTC", description="IANA zone in which times are shown to people")
    warn_deviation_pct: float = Field(10.0, gt=0)
    alert_deviation_pct: float = Field(20.0, gt=0)
    safety_margin_days: float = Field(3.0, ge=0)

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
