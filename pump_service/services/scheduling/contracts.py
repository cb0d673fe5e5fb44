"""Validated requests and results of the clinic calendar: clinics, their changes, holidays, the worklist.

Field-level checks (ranges, formats, the jurisdiction list, the time zone) happen here, so the API
answers 422 naming the field before anything is read; checks that need the whole calendar (closing
after opening, capacity within the hours) run on the merged values in the service, before
anything is changed.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pump_service.domain.jurisdictions import MAC_JURISDICTIONS
from pump_service.persistence.schedule_models import ClinicChangeKind
from pump_service.services.scheduling.views import AppointmentView
from schemas.clock import UtcDatetime

__all__ = [
    "CALENDAR_SETTINGS",
    "CLINIC_SETTINGS",
    "ClinicChangeResult",
    "ClinicChangeView",
    "ClinicChanges",
    "ClinicEntry",
    "ClinicView",
    "HolidayView",
    "PumpAssignment",
    "WorklistItem",
    "WorklistKind",
]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'America/New_York')") from exc
    return value


def _jurisdiction(value: str) -> str:
    if value not in MAC_JURISDICTIONS:
        raise ValueError(f"unknown jurisdiction {value!r}; expected one of {', '.join(MAC_JURISDICTIONS)}")
    return value


def _weekdays(value: list[int]) -> list[int]:
    if not value or not set(value) <= set(range(7)):
        raise ValueError("working days are weekday numbers 0-6 (0 = Monday), at least one")
    return sorted(set(value))


def _reminder_days(value: list[int]) -> list[int]:
    if any(d < 0 or d > 60 for d in value):
        raise ValueError("reminder days are 0-60 days before the appointment")
    return sorted(set(value), reverse=True)


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Zone = Annotated[str, Field(max_length=64), AfterValidator(_zone)]
Jurisdiction = Annotated[str, AfterValidator(_jurisdiction)]
Weekdays = Annotated[list[int], Field(max_length=7), AfterValidator(_weekdays)]
ReminderDays = Annotated[list[int], Field(max_length=10), AfterValidator(_reminder_days)]
LocalTime = Annotated[str, Field(pattern=_HHMM, description="clinic-local HH:MM")]
SlotMinutes = Annotated[int, Field(gt=0, le=480)]
Capacity = Annotated[int, Field(gt=0, le=500)]

# The fields of a clinic that a change may set, in the order people read them.
CLINIC_SETTINGS = (
    "name",
    "timezone",
    "working_days",
    "opens_at",
    "closes_at",
    "slot_minutes",
    "capacity_per_day",
    "reminder_days",
    "jurisdiction",
)
# A change of any of these re-checks the future bookings.
CALENDAR_SETTINGS = frozenset({"timezone", "working_days", "opens_at", "closes_at", "slot_minutes", "capacity_per_day"})


class _Request(BaseModel):
    # NaN/Infinity are refused here as well as by the API's body guard (the CLI builds these too);
    # no request string is longer than a few kilobytes (free-text notes are shorter still).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_max_length=4096)


class ClinicEntry(_Request):
    """A new clinic."""

    clinic_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    name: str = Field(min_length=1, max_length=100)
    timezone: Zone
    working_days: Weekdays = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    opens_at: LocalTime = "08:00"
    closes_at: LocalTime = "16:00"
    slot_minutes: SlotMinutes = 30
    capacity_per_day: Capacity = 16
    reminder_days: ReminderDays = Field(default_factory=lambda: [7, 1])
    jurisdiction: Jurisdiction | None = None


class ClinicChanges(_Request):
    """What to change in a clinic; fields left out stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=100)
    timezone: Zone | None = None
    working_days: Weekdays | None = None
    opens_at: LocalTime | None = None
    closes_at: LocalTime | None = None
    slot_minutes: SlotMinutes | None = None
    capacity_per_day: Capacity | None = None
    reminder_days: ReminderDays | None = None
    jurisdiction: Jurisdiction | None = None

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class HolidayView(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    day: date
    name: str
    created_at: UtcDatetime
    created_by: str


class ClinicView(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    clinic_id: str
    name: str
    timezone: str
    working_days: list[int]
    opens_at: str
    closes_at: str
    slot_minutes: int
    capacity_per_day: int
    slots_per_day: int
    reminder_days: list[int]
    jurisdiction: str | None
    holidays: list[HolidayView]
    created_at: UtcDatetime
    created_by: str
    updated_at: UtcDatetime
    updated_by: str


class ClinicChangeView(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    kind: ClinicChangeKind
    before: dict[str, Any]
    after: dict[str, Any]
    changed_at: UtcDatetime
    changed_by: str
    station_id: str


class WorklistKind(StrEnum):
    OVERDUE = "overdue"  # booked, the visit's time and grace passed, no refill recorded
    NO_SHOW = "no_show"  # recorded as a no-show and not refilled since


class WorklistItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: WorklistKind
    appointment_id: int
    pump_serial: str
    local_day: date
    starts_at: UtcDatetime
    due_at: UtcDatetime
    rebooked_at: UtcDatetime | None = Field(description="the pump's next booked appointment, if any")


class ClinicChangeResult(BaseModel):
    """A changed clinic and the bookings moved because its calendar changed (their new appointments)."""

    model_config = ConfigDict(frozen=True)

    clinic: ClinicView
    moved: list[AppointmentView]


class PumpAssignment(BaseModel):
    """A pump now looked after by a clinic, and its booking there (if it has one)."""

    model_config = ConfigDict(frozen=True)

    pump_serial: str
    clinic_id: str
    appointment: AppointmentView | None
