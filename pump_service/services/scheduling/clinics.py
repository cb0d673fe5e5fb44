"""Clinics and their calendars: the default clinic from settings, holidays, hours and capacity.

Every change of a clinic (its creation, a setting, a holiday) is a ``clinic_change`` row: who, from
which station, when, and the values before and after.
"""

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pump_service.domain.calendar import SEARCH_AHEAD_DAYS, ClinicCalendar
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.models import Pump
from pump_service.persistence.rows import clinic_id_of
from pump_service.persistence.schedule_models import Clinic, ClinicChange, ClinicChangeKind, ClinicHoliday
from pump_service.services.actor import Actor
from pump_service.services.held_rows import hold_rows
from pump_service.settings import Settings

__all__ = [
    "add_holiday",
    "calendar_of",
    "clinic_by_code",
    "default_clinic",
    "get_clinic",
    "list_holidays",
    "pump_clinic",
    "pump_zone",
    "record_change",
    "remove_holiday",
    "settings_of",
]

_CLINIC_IDS = "pump_service.clinic_ids"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def record_change(
    session: Session,
    clinic: Clinic,
    kind: ClinicChangeKind,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    actor: Actor | None,
    station_id: str,
    now: datetime,
) -> None:
    """One row of the clinic's history (``actor`` None: the service itself, from its settings)."""
    session.add(
        ClinicChange(
            clinic_id=clinic_id_of(clinic),
            kind=kind,
            before=before,
            after=after,
            changed_at=now,
            changed_by=actor.user if actor else "system",
            station_id=actor.station_id if actor else station_id,
        )
    )


def default_clinic(session: Session, settings: Settings, *, now: datetime, actor: Actor | None = None) -> Clinic:
    """The clinic named by ``settings.clinic_id``, created from the settings the first time."""
    clinic = clinic_by_code(session, settings.clinic_id)
    if clinic is not None:
        return clinic
    who = actor.user if actor else "system"
    clinic = Clinic(
        clinic_id=settings.clinic_id,
        name=settings.clinic_name,
        timezone=settings.clinic_tz,
        working_days=sorted(set(settings.clinic_working_days)),
        opens_at=settings.clinic_opens_at,
        closes_at=settings.clinic_closes_at,
        slot_minutes=settings.clinic_slot_minutes,
        capacity_per_day=settings.clinic_capacity_per_day,
        reminder_days=sorted(set(settings.reminder_days), reverse=True),
        created_at=now,
        created_by=who,
        station_id=actor.station_id if actor else settings.station_id,
        updated_at=now,
        updated_by=who,
    )
    calendar_of(session, clinic)  # validates the settings before anything is stored
    try:
        with session.begin_nested():  # two stations may create it at once: the loser reads the winner's
            session.add(clinic)
    except IntegrityError:
        return session.exec(select(Clinic).where(Clinic.clinic_id == settings.clinic_id)).one()
    record_change(
        session,
        clinic,
        ClinicChangeKind.CREATED,
        before={},
        after=settings_of(clinic),
        actor=actor,
        station_id=settings.station_id,
        now=now,
    )
    return clinic


def settings_of(clinic: Clinic) -> dict[str, Any]:
    """The clinic's settings as stored in its history (JSON values)."""
    return {
        "name": clinic.name,
        "timezone": clinic.timezone,
        "working_days": list(clinic.working_days),
        "opens_at": clinic.opens_at,
        "closes_at": clinic.closes_at,
        "slot_minutes": clinic.slot_minutes,
        "capacity_per_day": clinic.capacity_per_day,
        "reminder_days": list(clinic.reminder_days),
        "jurisdiction": clinic.jurisdiction,
    }


def get_clinic(session: Session, clinic_id: str) -> Clinic:
    """Raises: NotFoundError: no such clinic."""
    clinic = clinic_by_code(session, clinic_id)
    if clinic is None:
        raise NotFoundError(f"no clinic {clinic_id}")
    return clinic


def calendar_of(session: Session, clinic: Clinic) -> ClinicCalendar:
    """The clinic's calendar with its holidays (validated: a bad configuration is a RuleViolationError)."""
    holidays: frozenset[date] = frozenset()
    if clinic.id is not None:
        rows = session.exec(select(ClinicHoliday).where(ClinicHoliday.clinic_id == clinic.id)).all()
        holidays = frozenset(row.day for row in rows)
    return ClinicCalendar(
        zone=ZoneInfo(clinic.timezone),
        working_days=frozenset(clinic.working_days),
        opens=time.fromisoformat(clinic.opens_at),
        closes=time.fromisoformat(clinic.closes_at),
        slot_minutes=clinic.slot_minutes,
        capacity_per_day=clinic.capacity_per_day,
        holidays=holidays,
    )


def add_holiday(session: Session, clinic: Clinic, day: date, name: str, *, actor: Actor, now: datetime) -> None:
    """Close the clinic on ``day``; bookings on it are moved by the caller (see scheduling.rebook_day).

    Raises:
        RuleViolationError: the day is in the past (clinic time), beyond the calendar's booking
            range, or not a working day (nothing to close).
        ConflictError: the day is already a holiday.
    """
    clinic_id = clinic_id_of(clinic)
    calendar = calendar_of(session, clinic)
    today = calendar.local_day(now)
    if day < today:
        raise RuleViolationError(f"{day.isoformat()} is in the past (today is {today.isoformat()})", field="day")
    if day > today + timedelta(days=SEARCH_AHEAD_DAYS):
        raise RuleViolationError(
            f"{day.isoformat()} is beyond the calendar's range ({SEARCH_AHEAD_DAYS} days ahead)", field="day"
        )
    if day.weekday() not in calendar.working_days:
        raise RuleViolationError(
            f"{day.isoformat()} is a {_WEEKDAYS[day.weekday()]}, not a working day of clinic {clinic.clinic_id}: "
            "it is closed already",
            field="day",
        )
    exists = session.exec(
        select(ClinicHoliday).where(ClinicHoliday.clinic_id == clinic_id, col(ClinicHoliday.day) == day)
    ).first()
    if exists is not None:
        raise ConflictError(f"{day.isoformat()} is already a holiday ({exists.name})")
    session.add(ClinicHoliday(clinic_id=clinic_id, day=day, name=name, created_at=now, created_by=actor.user))
    record_change(
        session,
        clinic,
        ClinicChangeKind.HOLIDAY_ADDED,
        before={},
        after={"day": day.isoformat(), "name": name},
        actor=actor,
        station_id=actor.station_id,
        now=now,
    )
    session.flush()


def list_holidays(session: Session, clinic: Clinic, *, from_day: date | None = None) -> list[ClinicHoliday]:
    """The clinic's holidays in day order (from ``from_day`` if given)."""
    query = select(ClinicHoliday).where(ClinicHoliday.clinic_id == clinic_id_of(clinic))
    if from_day is not None:
        query = query.where(col(ClinicHoliday.day) >= from_day)
    return list(session.exec(query.order_by(col(ClinicHoliday.day))).all())


def remove_holiday(session: Session, clinic: Clinic, day: date, *, actor: Actor, now: datetime) -> ClinicHoliday:
    """Open the clinic again on ``day``; bookings already moved stay where they are.

    Raises:
        NotFoundError: ``day`` is not a holiday of the clinic.
        RuleViolationError: the day is in the past (history is not rewritten).
    """
    row = session.exec(
        select(ClinicHoliday).where(ClinicHoliday.clinic_id == clinic_id_of(clinic), col(ClinicHoliday.day) == day)
    ).first()
    if row is None:
        raise NotFoundError(f"{day.isoformat()} is not a holiday of clinic {clinic.clinic_id}")
    if day < calendar_of(session, clinic).local_day(now):
        raise RuleViolationError(f"{day.isoformat()} is in the past: a past holiday stays on record", field="day")
    record_change(
        session,
        clinic,
        ClinicChangeKind.HOLIDAY_REMOVED,
        before={"day": day.isoformat(), "name": row.name},
        after={},
        actor=actor,
        station_id=actor.station_id,
        now=now,
    )
    session.delete(row)
    session.flush()
    return row


def pump_clinic(session: Session, pump: Pump, settings: Settings) -> Clinic | None:
    """The pump's clinic; a pump without one belongs to the station's default clinic, if stored."""
    if pump.clinic_id is not None:
        return session.get(Clinic, pump.clinic_id)
    return clinic_by_code(session, settings.clinic_id)


def clinic_by_code(session: Session, clinic_id: str) -> Clinic | None:
    """The clinic called ``clinic_id``, read once per session: a visit asks for it from billing, zone and booking.

    A clinic's code never changes and its row is never deleted, so the id found stays its id; the
    row itself is held in the session's identity map (``session.get`` answers from memory).
    """
    known: dict[str, int] = session.info.setdefault(_CLINIC_IDS, {})
    if clinic_id in known:
        held = session.get(Clinic, known[clinic_id])
        if held is not None:
            return held
    clinic = session.exec(select(Clinic).where(Clinic.clinic_id == clinic_id)).first()
    if clinic is not None and clinic.id is not None:
        known[clinic_id] = clinic.id
        hold_rows(session, clinic)
    return clinic


def pump_zone(session: Session, pump: Pump, settings: Settings) -> ZoneInfo:
    """The zone the pump's clinic keeps its days in (a date of service, a booking day)."""
    clinic = pump_clinic(session, pump, settings)
    return ZoneInfo(clinic.timezone) if clinic is not None else settings.zone
