"""Clinics and their calendars: the default clinic from settings, holidays, hours and capacity."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pump_service.domain.calendar import ClinicCalendar
from pump_service.errors import ConflictError, NotFoundError
from pump_service.persistence.rows import clinic_id_of
from pump_service.persistence.schedule_models import Clinic, ClinicHoliday
from pump_service.services.actor import Actor
from pump_service.settings import Settings

__all__ = ["add_holiday", "calendar_of", "default_clinic", "get_clinic"]


def default_clinic(session: Session, settings: Settings, *, now: datetime, actor: Actor | None = None) -> Clinic:
    """The clinic named by ``settings.clinic_id``, created from the settings the first time."""
    clinic = session.exec(select(Clinic).where(Clinic.clinic_id == settings.clinic_id)).first()
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
    return clinic


def get_clinic(session: Session, clinic_id: str) -> Clinic:
    """Raises: NotFoundError: no such clinic."""
    clinic = session.exec(select(Clinic).where(Clinic.clinic_id == clinic_id)).first()
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
        ConflictError: the day is already a holiday.
    """
    clinic_id = clinic_id_of(clinic)
    exists = session.exec(
        select(ClinicHoliday).where(ClinicHoliday.clinic_id == clinic_id, col(ClinicHoliday.day) == day)
    ).first()
    if exists is not None:
        raise ConflictError(f"{day.isoformat()} is already a holiday ({exists.name})")
    session.add(ClinicHoliday(clinic_id=clinic_id, day=day, name=name, created_at=now, created_by=actor.user))
    session.flush()
