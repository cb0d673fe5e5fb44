"""Book, keep, move and cancel refill appointments in the clinic calendar.

Every time a pump's due date is recomputed (a refill, a prescription change, an interrogation, a
condition change) :func:`book_next_refill` runs in the same transaction: an appointment that still
fits (not after the target day, not after the alarm) is kept, anything else is superseded and a
new one booked. A booking that cannot be on time is still made, at the earliest free slot, and an
escalation is recorded with it.

A booking locks only the slot it takes, and only on PostgreSQL (:mod:`.slot_claims`): refills of
different pumps of one clinic proceed in parallel, and two bookings never share a slot.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from pump_service.domain.calendar import (
    ClinicCalendar,
)
from pump_service.domain.due import DueDate
from pump_service.domain.reservoir import ReservoirForecast
from pump_service.errors import ConflictError, NotFoundError
from pump_service.persistence.models import Pump, Refill
from pump_service.persistence.rows import clinic_id_of, get_stored, pump_id_of
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic, NotificationLevel
from pump_service.services.actor import Actor
from pump_service.services.held_rows import hold_rows
from pump_service.services.scheduling.clinics import calendar_of, default_clinic
from pump_service.services.scheduling.notifications import close_for_appointment, notify
from pump_service.services.scheduling.slot_claims import (
    claim_slot,
    hold_calendar,
    hold_calendar_exclusively,
    takes_row_locks,
)
from pump_service.services.scheduling.slot_search import SlotSearch
from pump_service.settings import Settings

__all__ = [
    "active_appointment",
    "book_next_refill",
    "cancel_appointment",
    "cancel_pump_appointments",
    "complete_appointment",
    "move_to_clinic",
    "rebook_closed_day",
    "recheck_bookings",
    "release_attended",
    "schedule_between",
]


def active_appointment(session: Session, pump_id: int) -> Appointment | None:
    query = select(Appointment).where(Appointment.pump_id == pump_id, Appointment.status == AppointmentStatus.BOOKED)
    return session.exec(query.order_by(col(Appointment.starts_at))).first()


def _clinic_of(session: Session, pump: Pump, settings: Settings, actor: Actor, now: datetime) -> Clinic:
    """The pump's clinic, else the station's default one (the caller assigns it to the pump)."""
    clinic = session.get(Clinic, pump.clinic_id) if pump.clinic_id is not None else None
    if clinic is None:
        clinic = default_clinic(session, settings, now=now, actor=actor)
    hold_rows(session, clinic)  # the visit's later lookups of the clinic (billing, zone) answered from memory
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
    """Record the pump's due date and make sure an appointment that honours it is booked.

    The pump's columns are set once the booking is made, so a refill writes the pump row once.
    """
    pump_id = pump_id_of(pump)
    latest_at = forecast.low_reservoir_at or forecast.empty_at
    clinic = _clinic_of(session, pump, settings, actor, now)
    # Held before the pump's booking is read, also when it is kept: a calendar change (a day
    # closed, new hours) moving that booking meanwhile would otherwise be overwritten by this one.
    calendar = _calendar_for_booking(session, clinic)
    current = active_appointment(session, pump_id)
    grace = timedelta(hours=settings.overdue_grace_hours)
    if current is not None and _still_fits(current, calendar, due.due_at, latest_at, now, grace):
        current.target_at, current.latest_at, current.due_reason = due.due_at, latest_at, due.reason.value
        current.updated_at, current.updated_by = now, actor.user
        session.add(current)
        booked = current
    else:
        if current is not None:
            _close(session, current, AppointmentStatus.SUPERSEDED, "the due date moved", actor, now)
            session.flush()
        booked = _book(
            session,
            pump,
            clinic,
            calendar,
            target_at=due.due_at,
            latest_at=latest_at,
            reason=due.reason.value,
            actor=actor,
            now=now,
            calendar_held=True,
        )
    pump.clinic_id = clinic.id
    pump.next_due_at = due.due_at
    pump.next_due_reason = due.reason.value
    pump.alarm_at = forecast.low_reservoir_at
    pump.empty_at = forecast.empty_at
    return booked


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
    avoid_day: date | None = None,
    calendar_held: bool = False,
) -> Appointment:
    """Book the best free slot for ``target_at`` (``calendar_held``: the caller holds ``calendar`` as now stored)."""
    clinic_id = clinic_id_of(clinic)
    pump_id = pump_id_of(pump)
    if not calendar_held:
        calendar = _calendar_for_booking(session, clinic, calendar)
    search = SlotSearch(clinic_id, calendar, target_at, latest_at, now, avoid, avoid_day)
    choice = search.choose(session)
    # Two stations booking at once must not take the same slot: the one that claims it second
    # (or finds it booked since the search read the day) takes the next free one instead.
    while not claim_slot(session, clinic_id, choice.day, choice.slot_index):
        search.busy.add((choice.day, choice.slot_index))
        choice = search.choose(session)
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


def _calendar_for_booking(session: Session, clinic: Clinic, calendar: ClinicCalendar | None = None) -> ClinicCalendar:
    """The clinic's calendar as it stands once no change of it is under way (PostgreSQL: read again).

    The calendar was read earlier in the visit; a change of the clinic's hours committed since then
    would otherwise book a slot from the old hours after the change rechecked every booking.
    """
    hold_calendar(session, clinic_id_of(clinic))
    if not takes_row_locks(session):  # SQLite: this transaction has held the whole database since it began
        return calendar if calendar is not None else calendar_of(session, clinic)
    session.flush()
    session.refresh(clinic)
    return calendar_of(session, clinic)


def _close(
    session: Session, appointment: Appointment, status: AppointmentStatus, reason: str, actor: Actor, now: datetime
) -> None:
    """Close a booked appointment; its open reminders close with it (escalations stay until handled)."""
    appointment.status = status
    appointment.closed_reason = reason
    appointment.updated_at = now
    appointment.updated_by = actor.user
    session.add(appointment)
    if appointment.id is not None:
        close_for_appointment(session, appointment.id, actor=actor, now=now)


def complete_appointment(session: Session, pump: Pump, refill_id: int, *, actor: Actor, now: datetime) -> None:
    """The pump was refilled: the appointment that refill fulfils is done, later ones are given up.

    The fulfilled appointment is the booked one on the refill's (clinic-local) day, or else the
    nearest booked one before it (a patient who came late). Booked appointments after that day
    aimed at the old due date: they are superseded, and :func:`book_next_refill` (which runs next)
    books from the new one.
    """
    pump_id = pump_id_of(pump)
    refill = get_stored(session, Refill, refill_id, referenced_by=f"pump {pump.serial}")
    if pump.clinic_id is not None:  # before its bookings are read: a day closed meanwhile moves them first
        hold_calendar(session, pump.clinic_id)
    booked = session.exec(
        select(Appointment)
        .where(Appointment.pump_id == pump_id, Appointment.status == AppointmentStatus.BOOKED)
        .order_by(col(Appointment.starts_at))
    ).all()
    fulfilled: Appointment | None = None
    for appointment in booked:
        clinic = get_stored(session, Clinic, appointment.clinic_id, referenced_by=f"appointment {appointment.id}")
        refill_day = calendar_of(session, clinic).local_day(refill.performed_at)
        if appointment.local_day <= refill_day:
            fulfilled = appointment  # the last one not after the refill's day is the nearest
        else:
            day = refill_day.isoformat()
            _close(session, appointment, AppointmentStatus.SUPERSEDED, f"refilled earlier, on {day}", actor, now)
    if fulfilled is not None:
        _close(session, fulfilled, AppointmentStatus.COMPLETED, "refilled", actor, now)
        fulfilled.refill_id = refill_id
    session.flush()


def cancel_pump_appointments(session: Session, pump: Pump, reason: str, *, actor: Actor, now: datetime) -> list[int]:
    """Cancel every booked appointment of a pump that takes no more visits (explanted); no rebooking.

    Returns the ids of the appointments cancelled.
    """
    booked = session.exec(
        select(Appointment).where(Appointment.pump_id == pump.id, Appointment.status == AppointmentStatus.BOOKED)
    )
    closed = []
    for appointment in booked.all():
        _close(session, appointment, AppointmentStatus.CANCELLED, reason, actor, now)
        if appointment.id is not None:
            closed.append(appointment.id)
    session.flush()
    return closed


def _book_again(
    session: Session,
    appointment: Appointment,
    status: AppointmentStatus,
    reason: str,
    *,
    actor: Actor,
    now: datetime,
    another_day: bool = False,
) -> Appointment:
    """Close ``appointment`` with ``status`` and book its pump again, aiming at the same due date.

    ``another_day``: not on the day of ``appointment`` (the patient asked for another day).
    """
    _close(session, appointment, status, reason, actor, now)
    session.flush()
    return _rebook(session, appointment, actor=actor, now=now, another_day=another_day)


def release_attended(
    session: Session, pump: Pump, *, at: datetime, what: str, actor: Actor, now: datetime
) -> Appointment | None:
    """A visit of another kind (an analysis, a reprogramming, a flush) in the pump's refill appointment.

    The patient came, so the appointment is over; the refill it was booked for is not done, so the
    pump is booked again from its due date (which the visit may have moved). Without this the
    appointment would pass "without a recorded refill" and escalate as overdue. Returns the new
    booking, or None when no booked appointment of the pump falls on that day.
    """
    if pump.id is None:
        return None
    current = active_appointment(session, pump.id)
    if current is None:
        return None
    clinic = get_stored(session, Clinic, current.clinic_id, referenced_by=f"appointment {current.id}")
    if current.local_day != calendar_of(session, clinic).local_day(at):
        return None
    reason = f"attended for {what} without a refill: the refill is booked again"
    return _book_again(session, current, AppointmentStatus.SUPERSEDED, reason, actor=actor, now=now)


def _rebook(
    session: Session,
    appointment: Appointment,
    *,
    actor: Actor,
    now: datetime,
    another_day: bool = False,
    same_slot_ok: bool = False,
) -> Appointment:
    """Book the pump of the closed ``appointment`` again, aiming at its due date, not in its slot.

    ``same_slot_ok``: its slot number may be offered again (the calendar changed, so it means another time).
    """
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
        avoid=None if same_slot_ok else (appointment.local_day, appointment.slot_index),
        avoid_day=appointment.local_day if another_day else None,
    )


def cancel_appointment(
    session: Session,
    appointment_id: int,
    *,
    no_show: bool,
    reason: str,
    actor: Actor,
    now: datetime,
    patient_request: bool = False,
) -> Appointment:
    """Cancel (or record a no-show for) a booked appointment and book the pump again.

    A cancellation at the patient's request is rebooked on another day (the patient cannot come
    that day); a no-show can only be recorded once the appointment has started.

    Raises:
        NotFoundError: no such appointment.
        ConflictError: it is not booked (already completed, cancelled...), or a no-show before it started.
    """
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFoundError(f"no appointment {appointment_id}")
    if appointment.status != AppointmentStatus.BOOKED:
        raise ConflictError(f"appointment {appointment_id} is {appointment.status}, not booked")
    if no_show and now < appointment.starts_at:
        raise ConflictError(
            f"appointment {appointment_id} starts at {appointment.starts_at.isoformat()}: "
            "a no-show can be recorded only once it has started"
        )
    new = _book_again(
        session,
        appointment,
        AppointmentStatus.NO_SHOW if no_show else AppointmentStatus.CANCELLED,
        reason,
        actor=actor,
        now=now,
        another_day=patient_request and not no_show,
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


def move_to_clinic(session: Session, pump: Pump, clinic: Clinic, *, actor: Actor, now: datetime) -> Appointment | None:
    """The pump now belongs to ``clinic``: its booking elsewhere is superseded and booked there (same due date)."""
    current = active_appointment(session, pump_id_of(pump))
    if current is None or current.clinic_id == clinic.id:
        return current
    _close(session, current, AppointmentStatus.SUPERSEDED, f"moved to clinic {clinic.clinic_id}", actor, now)
    session.flush()
    return _book(
        session,
        pump,
        clinic,
        calendar_of(session, clinic),
        target_at=current.target_at,
        latest_at=current.latest_at,
        reason=current.due_reason,
        actor=actor,
        now=now,
    )


def rebook_closed_day(session: Session, clinic: Clinic, day: date, *, actor: Actor, now: datetime) -> list[Appointment]:
    """Move every booking on a day the clinic now closes; each lands earlier if it can."""
    clinic_id = clinic_id_of(clinic)
    hold_calendar_exclusively(session, clinic_id)  # bookings under way finish first; new ones see the holiday
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


def _fits(calendar: ClinicCalendar, appointment: Appointment, used: set[int]) -> int | None:
    """The slot index of ``appointment``'s start time in ``calendar``, if it is still a free slot."""
    if not calendar.is_working_day(appointment.local_day):
        return None
    for index in range(calendar.capacity_per_day):
        start = calendar.slot_start(appointment.local_day, index)
        if start == appointment.starts_at:
            if index in used or calendar.slot_end(appointment.local_day, index) != appointment.ends_at:
                return None
            return index
        if start > appointment.starts_at:
            return None
    return None


def recheck_bookings(
    session: Session, clinic: Clinic, reason: str, *, actor: Actor, now: datetime
) -> list[Appointment]:
    """After the clinic's hours, slot length, capacity or working days changed: keep what fits, move the rest.

    A future booking still fits if its time is one of the new slots, within the day's capacity, on
    a working day; it keeps its time (its slot index is renumbered). Every other one is cancelled
    and booked again (earlier if it can, else later with an escalation). Returns the new bookings.
    """
    clinic_id = clinic_id_of(clinic)
    hold_calendar_exclusively(session, clinic_id)  # bookings under way finish first; new ones see the new hours
    calendar = calendar_of(session, clinic)
    booked = session.exec(
        select(Appointment)
        .where(
            Appointment.clinic_id == clinic_id,
            Appointment.status == AppointmentStatus.BOOKED,
            col(Appointment.starts_at) >= now,
        )
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    ).all()
    used: dict[date, set[int]] = defaultdict(set)
    moving: list[Appointment] = []
    for appointment in booked:
        index = _fits(calendar, appointment, used[appointment.local_day])
        if index is None:
            moving.append(appointment)
            continue
        used[appointment.local_day].add(index)
        if appointment.slot_index != index:
            appointment.slot_index = index
            appointment.updated_at, appointment.updated_by = now, actor.user
            session.add(appointment)
    # Close every one that moves first: their old slot numbers mean other times now.
    for appointment in moving:
        _close(session, appointment, AppointmentStatus.CANCELLED, reason, actor, now)
    session.flush()
    return [_rebook(session, appointment, actor=actor, now=now, same_slot_ok=True) for appointment in moving]


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
