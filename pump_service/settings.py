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
