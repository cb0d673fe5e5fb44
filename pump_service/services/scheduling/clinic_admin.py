"""Clinics as the front desk runs them: create, show, list, change; holidays; which clinic a pump uses.

A change is validated on the merged values before anything is written, so a refused change leaves
the clinic, its history and its bookings as they were. A change of the calendar (hours, slot
length, capacity, working days, zone) re-checks every future booking: what no longer fits is
booked again (:func:`~pump_service.services.scheduling.booking.recheck_bookings`).
"""

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from pump_service.domain.calendar import ClinicCalendar
from pump_service.errors import ConflictError, NotFoundError
from pump_service.persistence.models import Pump, PumpState
from pump_service.persistence.rows import clinic_id_of, get_stored
from pump_service.persistence.schedule_models import Appointment, Clinic, ClinicChange, ClinicChangeKind
from pump_service.services.actor import Actor
from pump_service.services.paging import Page, PageRequest, rows_page, select_page
from pump_service.services.scheduling.booking import (
    active_appointment,
    move_to_clinic,
    rebook_closed_day,
    recheck_bookings,
)
from pump_service.services.scheduling.clinics import (
    add_holiday,
    calendar_of,
    get_clinic,
    list_holidays,
    record_change,
    settings_of,
)
from pump_service.services.scheduling.contracts import (
    CALENDAR_SETTINGS,
    ClinicChanges,
    ClinicChangeView,
    ClinicEntry,
    ClinicView,
    HolidayView,
)

__all__ = [
    "assign_pump",
    "change_clinic",
    "clinic_history",
    "clinic_history_page",
    "clinic_view",
    "close_day",
    "create_clinic",
    "list_clinics",
]


def _check(values: dict[str, Any], holidays: frozenset[date]) -> ClinicCalendar:
    """The calendar these settings make (RuleViolationError naming the field if they are impossible)."""
    return ClinicCalendar(
        zone=ZoneInfo(str(values["timezone"])),
        working_days=frozenset(values["working_days"]),
        opens=time.fromisoformat(str(values["opens_at"])),
        closes=time.fromisoformat(str(values["closes_at"])),
        slot_minutes=int(values["slot_minutes"]),
        capacity_per_day=int(values["capacity_per_day"]),
        holidays=holidays,
    )


def create_clinic(session: Session, entry: ClinicEntry, *, actor: Actor, now: datetime) -> Clinic:
    """Raises: ConflictError: the clinic id is taken; RuleViolationError: impossible hours or capacity."""
    if session.exec(select(Clinic.id).where(Clinic.clinic_id == entry.clinic_id)).first() is not None:
        raise ConflictError(f"clinic {entry.clinic_id} exists")
    values = entry.model_dump()
    _check(values, frozenset())
    clinic = Clinic(
        **values,
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
        updated_at=now,
        updated_by=actor.user,
    )
    session.add(clinic)
    session.flush()
    record_change(
        session,
        clinic,
        ClinicChangeKind.CREATED,
        before={},
        after=settings_of(clinic),
        actor=actor,
        station_id=actor.station_id,
        now=now,
    )
    session.flush()
    return clinic


def list_clinics(session: Session) -> list[Clinic]:
    return list(session.exec(select(Clinic).order_by(col(Clinic.clinic_id))).all())


def change_clinic(
    session: Session, clinic_id: str, changes: ClinicChanges, *, actor: Actor, now: datetime
) -> tuple[Clinic, list[Appointment]]:
    """Apply ``changes``; returns the clinic and the bookings moved because the calendar changed.

    Raises:
        NotFoundError: no such clinic.
        RuleViolationError: the merged hours or capacity are impossible (nothing changed).
    """
    clinic = get_clinic(session, clinic_id)
    before = settings_of(clinic)
    given = changes.given()
    changed = {name: value for name, value in given.items() if before.get(name) != value}
    if not changed:
        return clinic, []
    merged = {**before, **changed}
    _check(merged, calendar_of(session, clinic).holidays)
    for name, value in changed.items():
        setattr(clinic, name, value)
    clinic.updated_at, clinic.updated_by = now, actor.user
    session.add(clinic)
    record_change(
        session,
        clinic,
        ClinicChangeKind.CHANGED,
        before={k: before[k] for k in changed},
        after=changed,
        actor=actor,
        station_id=actor.station_id,
        now=now,
    )
    session.flush()
    moved: list[Appointment] = []
    if CALENDAR_SETTINGS & changed.keys():
        moved = recheck_bookings(session, clinic, "the clinic's hours or capacity changed", actor=actor, now=now)
    return clinic, moved


def clinic_view(session: Session, clinic: Clinic) -> ClinicView:
    holidays = [HolidayView.model_validate(h) for h in list_holidays(session, clinic)]
    return ClinicView.model_validate(
        {
            **settings_of(clinic),
            "clinic_id": clinic.clinic_id,
            "holidays": holidays,
            "slots_per_day": calendar_of(session, clinic).slots_per_day,
            "created_at": clinic.created_at,
            "created_by": clinic.created_by,
            "updated_at": clinic.updated_at,
            "updated_by": clinic.updated_by,
        }
    )


def clinic_history(session: Session, clinic: Clinic) -> list[ClinicChangeView]:
    """Every change of the clinic, oldest first."""
    rows = session.exec(
        select(ClinicChange)
        .where(ClinicChange.clinic_id == clinic_id_of(clinic))
        .order_by(col(ClinicChange.changed_at), col(ClinicChange.id))
    ).all()
    return [ClinicChangeView.model_validate(r) for r in rows]


def clinic_history_page(session: Session, clinic: Clinic, request: PageRequest) -> Page[ClinicChangeView]:
    """A page of the clinic's changes, oldest first.

    Raises:
        RuleViolationError: a cursor of another list.
    """
    name = f"clinic-history:{clinic.clinic_id}"
    statement = select_page(
        select(ClinicChange).where(ClinicChange.clinic_id == clinic_id_of(clinic)),
        (col(ClinicChange.changed_at), col(ClinicChange.id)),
        (datetime, int),
        request=request,
        list_name=name,
    )
    rows, cursor = rows_page(
        session.exec(statement).all(), key=lambda r: (r.changed_at, r.id or 0), request=request, list_name=name
    )
    return Page(items=[ClinicChangeView.model_validate(r) for r in rows], next_cursor=cursor)


def close_day(
    session: Session, clinic: Clinic, day: date, name: str, *, actor: Actor, now: datetime
) -> list[Appointment]:
    """Make ``day`` a holiday (validated) and move what was booked then; returns the new bookings."""
    add_holiday(session, clinic, day, name, actor=actor, now=now)
    return rebook_closed_day(session, clinic, day, actor=actor, now=now)


def assign_pump(session: Session, serial: str, clinic: Clinic, *, actor: Actor, now: datetime) -> Appointment | None:
    """The pump is looked after by ``clinic`` from now on; its booking moves there. Returns it (if any).

    Raises:
        NotFoundError: no such pump.
        ConflictError: the pump is explanted.
    """
    pump = session.exec(select(Pump).where(Pump.serial == serial)).first()
    if pump is None:
        raise NotFoundError(f"no pump {serial}")
    if pump.state == PumpState.EXPLANTED:
        raise ConflictError(f"pump {serial} is explanted")
    target = clinic_id_of(clinic)
    if pump.clinic_id == target:
        return active_appointment(session, pump.id) if pump.id is not None else None
    old = get_stored(session, Clinic, pump.clinic_id, referenced_by=f"pump {serial}") if pump.clinic_id else None
    pump.clinic_id = target
    session.add(pump)
    record_change(
        session,
        clinic,
        ClinicChangeKind.PUMP_ASSIGNED,
        before={"pump": serial, "clinic": old.clinic_id if old else None},
        after={"pump": serial, "clinic": clinic.clinic_id},
        actor=actor,
        station_id=actor.station_id,
        now=now,
    )
    return move_to_clinic(session, pump, clinic, actor=actor, now=now)
