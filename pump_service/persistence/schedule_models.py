"""Tables of the clinic calendar and of everything the scheduler decides.

Appointments are booked against a clinic's calendar; notifications are the scheduler's outbox
and its memory: each has a unique ``key`` naming the decision (a reminder for an appointment, an
escalation for an overdue visit...), so a decision is recorded once however often, or however
late, the tick runs.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from pump_service.persistence.types import StrEnumType, UTCDateTime

__all__ = [
    "Appointment",
    "AppointmentStatus",
    "Clinic",
    "ClinicChange",
    "ClinicChangeKind",
    "ClinicHoliday",
    "Notification",
    "NotificationLevel",
    "NotificationStatus",
]


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    COMPLETED = "completed"  # the pump was refilled
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    SUPERSEDED = "superseded"  # the due date moved: a new appointment replaces it


class NotificationStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    EXPIRED = "expired"  # a reminder recorded after the appointment it announced
    CLOSED = "closed"  # its appointment was completed, cancelled or moved: nothing left to do


class ClinicChangeKind(StrEnum):
    CREATED = "created"
    CHANGED = "changed"  # settings: hours, capacity, zone, jurisdiction...
    HOLIDAY_ADDED = "holiday_added"
    HOLIDAY_REMOVED = "holiday_removed"
    PUMP_ASSIGNED = "pump_assigned"


class NotificationLevel(StrEnum):
    INFO = "info"
    ESCALATION = "escalation"


class Clinic(SQLModel, table=True):
    """Where refills happen: its zone, working week, hours, slot length and daily capacity."""

    __tablename__ = "clinic"

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(index=True, unique=True, max_length=32)
    name: str = Field(max_length=100)
    timezone: str = Field(max_length=64)
    working_days: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # 0 = Monday
    opens_at: str = Field(max_length=5)  # local HH:MM
    closes_at: str = Field(max_length=5)
    slot_minutes: int
    capacity_per_day: int
    reminder_days: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    jurisdiction: str | None = Field(default=None, max_length=8)  # Medicare A/B MAC, see domain/jurisdictions.py
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(max_length=64)


class ClinicChange(SQLModel, table=True):
    """One change of a clinic's settings or holidays: who, from which station, when, before and after."""

    __tablename__ = "clinic_change"

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    kind: ClinicChangeKind = Field(sa_type=StrEnumType(ClinicChangeKind))
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    changed_at: datetime = Field(sa_type=UTCDateTime, index=True)
    changed_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)


class ClinicHoliday(SQLModel, table=True):
    __tablename__ = "clinic_holiday"
    __table_args__ = (UniqueConstraint("clinic_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    day: date
    name: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)


class Appointment(SQLModel, table=True):
    """A booked refill visit. ``target_at`` is the due date it aims at, ``latest_at`` the alarm/empty date.

    ``next_decision_at``: no scheduler decision of this appointment is due before it (NULL: none
    remains); the tick reads only booked rows whose moment has come (services/scheduling/decision_due.py).
    """

    __tablename__ = "appointment"
    __table_args__ = (
        Index("ix_appointment_status_next_decision_at", "status", "next_decision_at"),
        # The slot search reads one clinic's days in a range; with single-column indexes SQLite
        # picks clinic_id and reads every booking the clinic ever had.
        Index("ix_appointment_clinic_id_local_day", "clinic_id", "local_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    pump_id: int = Field(foreign_key="pump.id", index=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    local_day: date = Field(index=True)
    slot_index: int
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    target_at: datetime = Field(sa_type=UTCDateTime)
    latest_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_reason: str = Field(max_length=32)
    on_time: bool
    status: AppointmentStatus = Field(sa_type=StrEnumType(AppointmentStatus), index=True)
    closed_reason: str | None = Field(default=None, max_length=200)
    refill_id: int | None = Field(default=None, foreign_key="refill.id")
    next_decision_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(max_length=64)


class Notification(SQLModel, table=True):
    """A reminder or an escalation; ``key`` is unique, so each decision exists once."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=120)
    kind: str = Field(max_length=32, index=True)
    level: NotificationLevel = Field(sa_type=StrEnumType(NotificationLevel))
    pump_id: int = Field(foreign_key="pump.id", index=True)
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id")
    trigger_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    status: NotificationStatus = Field(sa_type=StrEnumType(NotificationStatus))
    message: str = Field(max_length=300)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=64)
