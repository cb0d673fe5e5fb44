"""Book, keep, move and cancel refill appointments in the clinic calendar.

Every time a pump's due date is recomputed (a refill, a prescription change, an interrogation, a
condition change) :func:`book_next_refill` runs in the same transaction: an appointment that still
fits (not after the target day, not after the alarm) is kept, anything else is superseded and a
new one booked. A booking that cannot be on time is still made, at the earliest free slot, and an
escalation is recorded with it.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from pump_service.domain.calendar import BookingChoice, ClinicCalendar, choose_slot
from pump_service.domain.due import DueDate
from pump_service.domain.reservoir import ReservoirForecast
from pump_service.errors import ConflictError, NotFoundError
from pump_service.persistence.models import Pump
from pump_service.persistence.rows import clinic_id_of, get_stored, pump_id_of
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic, NotificationLevel
from pump_service.services.actor import Actor
from pump_service.services.scheduling.clinics import calendar_of, default_clinic
from pump_service.services.scheduling.notifications import notify
from pump_service.settings import Settings

__all__ = [
    "active_appointment",
    "book_next_refill",
    "cancel_appointment",
    "cancel_pump_appointments",
    "complete_appointment",
    "rebook_closed_day",
    "schedule_between",
]


def active_appointment(session: Session, pump_id: int) -> Appointment | None:
    query = select(Appointment).where(Appointment.pump_id == pump_id, Appointment.status == AppointmentStatus.BOOKED)
    return session.exec(query.order_by(col(Appointment.starts_at))).first()


def _used_slots(session: Session, clinic_id: int, from_day: date) -> dict[date, set[int]]:
    rows = session.exec(
        select(col(Appointment.local_day), col(Appointment.slot_index)).where(
            Appointment.clinic_id == clinic_id,
            Appointment.status == AppointmentStatus.BOOKED,
            col(Appointment.local_day) >= from_day,
        )
    ).all()
    used: dict[date, set[int]] = defaultdict(set)
    for day, index in rows:
        used[day].add(index)
    return used


def _clinic_of(session: Session, pump: Pump, settings: Settings, actor: Actor, now: datetime) -> Clinic:
    clinic = session.get(Clinic, pump.clinic_id) if pump.clinic_id is not None else None
    if clinic is None:
        clinic = default_clinic(session, settings, now=now, actor=actor)
        pump.clinic_id = clinic.id
    return clinic


def _still_fits(
    appointment: Appointment,
    calendar: ClinicCalendar,
    target_at: datetime,
    latest_at: datetime | None,
    now: datetime,
    grace: timedelta,
) -> bool:
    # An appointment under way (the patient is in the chair) still counts until its grace runs out.
    return (
        appointment.ends_at + grace >= now
        and appointment.local_day <= calendar.local_day(target_at)
        and (latest_at is None or appointment.starts_at <= latest_at)
        and calendar.is_working_day(appointment.local_day)
    )


def book_next_refill(
    session: Session,
    pump: Pump,
    *,
    due: DueDate,
    forecast: ReservoirForecast,
    settings: Settings,
    actor: Actor,
    now: datetime,
) -> Appointment:
    """Record the pump's due date and make sure an appointment that honours it is booked."""
    pump_id = pump_id_of(pump)
    latest_at = forecast.low_reservoir_at or forecast.empty_at
    pump.next_due_at = due.due_at
    pump.next_due_reason = due.reason.value
    pump.alarm_at = forecast.low_reservoir_at
    pump.empty_at = forecast.empty_at
    clinic = _clinic_of(session, pump, settings, actor, now)
    calendar = calendar_of(session, clinic)
    current = active_appointment(session, pump_id)
    grace = timedelta(hours=settings.overdue_grace_hours)
    if current is not None and _still_fits(current, calendar, due.due_at, latest_at, now, grace):
        current.target_at, current.latest_at, current.due_reason = due.due_at, latest_at, due.reason.value
        current.updated_at, current.updated_by = now, actor.user
        session.add(current)
        return current
    if current is not None:
        _close(current, AppointmentStatus.SUPERSEDED, "the due date moved", actor, now)
        session.add(current)
        session.flush()
    return _book(
        session,
        pump,
        clinic,
        calendar,
        target_at=due.due_at,
        latest_at=latest_at,
        reason=due.reason.value,
        actor=actor,
        now=now,
    )


def _book(
    session: Session,
    pump: Pump,
    clinic: Clinic,
    calendar: ClinicCalendar,
    *,
    target_at: datetime,
    latest_at: datetime | None,
    reason: str,
    actor: Actor,
    now: datetime,
    avoid: tuple[date, int] | None = None,
) -> Appointment:
    clinic_id = clinic_id_of(clinic)
    pump_id = pump_id_of(pump)
    # Two stations booking at once must not take the same slot: the clinic row is the lock
    # (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises every writer). FOR NO KEY UPDATE,
    # because pump rows referencing the clinic hold KEY SHARE on it: FOR UPDATE would deadlock.
    session.exec(select(Clinic).where(Clinic.id == clinic_id).with_for_update(key_share=True)).one()
    used = _used_slots(session, clinic_id, calendar.local_day(now))
    if avoid is not None:  # the slot just given up is not offered back
        used[avoid[0]].add(avoid[1])
    choice: BookingChoice = choose_slot(calendar, target_at=target_at, latest_at=latest_at, now=now, used_slots=used)
    appointment = Appointment(
        pump_id=pump_id,
        clinic_id=clinic_id,
        local_day=choice.day,
        slot_index=choice.slot_index,
        starts_at=choice.starts_at,
        ends_at=choice.ends_at,
        target_at=target_at,
        latest_at=latest_at,
        due_reason=reason,
        on_time=choice.on_time,
        status=AppointmentStatus.BOOKED,
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
        updated_at=now,
        updated_by=actor.user,
    )
    session.add(appointment)
    session.flush()
    if not choice.on_time:
        notify(
            session,
            key=f"no-slot:{appointment.id}",
            kind="no_slot",
            level=NotificationLevel.ESCALATION,
            pump=pump,
            appointment=appointment,
            trigger_at=now,
            now=now,
            message=f"pump {pump.serial}: {choice.reason}; booked {choice.starts_at.isoformat()}",
            data={"reason": choice.reason, "target_at": target_at.isoformat()},
        )
    return appointment


def _close(appointment: Appointment, status: AppointmentStatus, reason: str, actor: Actor, now: datetime) -> None:
    appointment.status = status
    appointment.closed_reason = reason
    appointment.updated_at = now
    appointment.updated_by = actor.user


def complete_appointment(session: Session, pump: Pump, refill_id: int, *, actor: Actor, now: datetime) -> None:
    """The pump was refilled: its booked appointment (if any) is done."""
    pump_id = pump_id_of(pump)
    current = active_appointment(session, pump_id)
    if current is not None:
        _close(current, AppointmentStatus.COMPLETED, "refilled", actor, now)
        current.refill_id = refill_id
        session.add(current)


def cancel_pump_appointments(session: Session, pump: Pump, reason: str, *, actor: Actor, now: datetime) -> list[int]:
    """Cancel every booked appointment of a pump that takes no more visits (explanted); no rebooking.

    Returns the ids of the appointments cancelled.
    """
    booked = session.exec(
        select(Appointment).where(Appointment.pump_id == pump.id, Appointment.status == AppointmentStatus.BOOKED)
    )
    closed = []
    for appointment in booked.all():
        _close(appointment, AppointmentStatus.CANCELLED, reason, actor, now)
        session.add(appointment)
        if appointment.id is not None:
            closed.append(appointment.id)
    session.flush()
    return closed


def _book_again(
    session: Session, appointment: Appointment, status: AppointmentStatus, reason: str, *, actor: Actor, now: datetime
) -> Appointment:
    """Close ``appointment`` with ``status`` and book its pump again, aiming at the same due date."""
    _close(appointment, status, reason, actor, now)
    session.add(appointment)
    session.flush()
    pump = get_stored(session, Pump, appointment.pump_id, referenced_by=f"appointment {appointment.id}")
    clinic = get_stored(session, Clinic, appointment.clinic_id, referenced_by=f"appointment {appointment.id}")
    return _book(
        session,
        pump,
        clinic,
        calendar_of(session, clinic),
        target_at=appointment.target_at,
        latest_at=appointment.latest_at,
        reason=appointment.due_reason,
        actor=actor,
        now=now,
        avoid=(appointment.local_day, appointment.slot_index),
    )


def cancel_appointment(
    session: Session,
    appointment_id: int,
    *,
    no_show: bool,
    reason: str,
    actor: Actor,
    now: datetime,
) -> Appointment:
    """Cancel (or record a no-show for) a booked appointment and book the pump again.

    Raises:
        NotFoundError: no such appointment.
        ConflictError: it is not booked (already completed, cancelled...).
    """
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFoundError(f"no appointment {appointment_id}")
    if appointment.status != AppointmentStatus.BOOKED:
        raise ConflictError(f"appointment {appointment_id} is {appointment.status}, not booked")
    new = _book_again(
        session,
        appointment,
        AppointmentStatus.NO_SHOW if no_show else AppointmentStatus.CANCELLED,
        reason,
        actor=actor,
        now=now,
    )
    if no_show:
        pump = get_stored(session, Pump, appointment.pump_id, referenced_by=f"appointment {appointment_id}")
        notify(
            session,
            key=f"no-show:{appointment.id}",
            kind="no_show",
            level=NotificationLevel.ESCALATION,
            pump=pump,
            appointment=new,
            trigger_at=now,
            now=now,
            message=f"pump {pump.serial}: missed refill appointment; rebooked {new.starts_at.isoformat()}",
        )
    return new


def rebook_closed_day(session: Session, clinic: Clinic, day: date, *, actor: Actor, now: datetime) -> list[Appointment]:
    """Move every booking on a day the clinic now closes; each lands earlier if it can."""
    clinic_id = clinic_id_of(clinic)
    booked = session.exec(
        select(Appointment).where(
            Appointment.clinic_id == clinic_id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.local_day == day,
        )
    ).all()
    return [
        _book_again(session, a, AppointmentStatus.CANCELLED, "clinic closed that day", actor=actor, now=now)
        for a in booked
    ]


def schedule_between(session: Session, clinic: Clinic, first_day: date, days: int) -> list[Appointment]:
    """Booked and past appointments of the clinic from ``first_day`` for ``days`` days, in time order."""
    clinic_id = clinic_id_of(clinic)
    last = first_day + timedelta(days=days)
    query = select(Appointment).where(
        Appointment.clinic_id == clinic_id,
        col(Appointment.local_day) >= first_day,
        col(Appointment.local_day) < last,
        col(Appointment.status).in_((AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)),
    )
    return list(session.exec(query.order_by(col(Appointment.starts_at))).all())
