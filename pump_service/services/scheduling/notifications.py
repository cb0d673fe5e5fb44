"""The scheduler's decisions: reminders and escalations, each recorded once under a unique key.

:func:`process_due` is what a tick decides: every reminder whose time has come, every visit that
is overdue, every appointment now later than the pump's forecast alarm, every battery at ERI or
EOS. Each decision has a key (``reminder:<appointment>:<N>d``...), and a decision whose key exists
is not taken again, so a tick that runs twice, late, or after days of downtime acts exactly once
per item.

A tick costs what is due, not what is stored: it reads only the booked appointments whose
``next_decision_at`` has come (decision_due.py keeps that column right) and the ERI/EOS pumps
without their battery key, by indexed queries. The scheduler splits it in two phases:
:func:`find_due` in a read transaction (a snapshot, never SQLite's write lock), then
:func:`record_due` in a short write transaction, which re-reads each candidate and drops a
decision whose basis changed meanwhile (the next tick looks again) or whose key now exists. The
unique key on ``notification.key`` is the last guard: a decision is never recorded twice.
"""

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, literal
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from pump_service.errors import ConflictError, NotFoundError
from pump_service.persistence.models import Pump
from pump_service.persistence.rows import pump_id_of
from pump_service.persistence.schedule_models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    Notification,
    NotificationLevel,
    NotificationStatus,
)
from pump_service.services.actor import Actor
from pump_service.services.paging import PageRequest, rows_page, select_page
from pump_service.services.scheduling.decision_due import (
    DUE_AT_NEXT_TICK,
    decision_moments,
    install_decision_due_hook,
    next_decision_after,
    reminder_key,
)
from pump_service.settings import Settings

__all__ = [
    "DuePlan",
    "TickReport",
    "acknowledge",
    "close_for_appointment",
    "find_due",
    "list_notifications",
    "next_decision_time",
    "notification_page",
    "notify",
    "process_due",
    "record_due",
]

install_decision_due_hook()

BATTERY_STATES = ("ERI", "EOS")
_KEYS_PER_QUERY = 500  # bound parameters per IN list, well under SQLite's limit


@dataclass
class TickReport:
    """What one tick decided, by kind."""

    created: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.created.values())


def notify(
    session: Session,
    *,
    key: str,
    kind: str,
    level: NotificationLevel,
    pump: Pump,
    appointment: Appointment | None,
    trigger_at: datetime,
    now: datetime,
    message: str,
    data: dict[str, Any] | None = None,
    status: NotificationStatus = NotificationStatus.OPEN,
) -> bool:
    """Record a decision unless one with ``key`` exists; returns whether it was new."""
    if session.exec(select(Notification.id).where(Notification.key == key)).first() is not None:
        return False
    pump_id = pump_id_of(pump)
    session.add(
        Notification(
            key=key,
            kind=kind,
            level=level,
            pump_id=pump_id,
            appointment_id=appointment.id if appointment else None,
            trigger_at=trigger_at,
            created_at=now,
            status=status,
            message=message[:300],
            data=data or {},
        )
    )
    session.flush()
    return True


@dataclass(frozen=True, slots=True)
class Decision:
    """One notification to record, as the read phase decided it."""

    key: str
    kind: str
    level: NotificationLevel
    pump_id: int
    appointment_id: int | None
    trigger_at: datetime
    message: str
    status: NotificationStatus = NotificationStatus.OPEN


@dataclass(frozen=True, slots=True)
class _Basis:
    """What an appointment's decisions were made from; the write phase re-reads and compares it."""

    status: AppointmentStatus
    starts_at: datetime
    ends_at: datetime
    clinic_id: int
    next_decision_at: datetime | None
    alarm_at: datetime | None


@dataclass(frozen=True, slots=True)
class _AppointmentPlan:
    appointment_id: int
    basis: _Basis
    decisions: tuple[Decision, ...]
    advance_to: datetime | None  # the next moment a decision of it becomes due, once these are recorded


@dataclass(frozen=True, slots=True)
class _BatteryPlan:
    battery_state: str
    decision: Decision


@dataclass(frozen=True, slots=True)
class DuePlan:
    """What :func:`find_due` found due at ``now``, for :func:`record_due` to write."""

    now: datetime
    appointments: tuple[_AppointmentPlan, ...] = ()
    batteries: tuple[_BatteryPlan, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.appointments and not self.batteries


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _KEYS_PER_QUERY):
        yield items[start : start + _KEYS_PER_QUERY]


def _taken_keys(session: Session, keys: Iterable[str]) -> set[str]:
    wanted = sorted(set(keys))
    taken: set[str] = set()
    for part in _chunks(wanted):
        taken.update(session.exec(select(Notification.key).where(col(Notification.key).in_(part))).all())
    return taken


def _battery_key_sql() -> Any:
    return literal("battery:") + cast(Pump.id, String) + literal(":") + col(Pump.battery_state)


def _undecided_batteries() -> Any:
    decided = select(Notification.id).where(Notification.key == _battery_key_sql()).exists()
    return select(Pump.id, Pump.serial, Pump.battery_state).where(col(Pump.battery_state).in_(BATTERY_STATES), ~decided)


def _plan_appointment(
    row: Any, taken: set[str], *, reminder_days: Sequence[int], grace: timedelta, now: datetime
) -> _AppointmentPlan:
    appointment_id: int = row.id
    starts_at: datetime = row.starts_at
    decisions: list[Decision] = []
    done = set(taken)

    def decide(key: str, kind: str, level: NotificationLevel, trigger_at: datetime, message: str,
               status: NotificationStatus = NotificationStatus.OPEN) -> None:  # fmt: skip
        decisions.append(Decision(key, kind, level, row.pump_id, appointment_id, trigger_at, message, status))
        done.add(key)

    for days in reminder_days:
        key = reminder_key(appointment_id, days)
        trigger = starts_at - timedelta(days=days)
        if trigger <= now and key not in done:
            # A reminder whose moment passed while the service was down still counts once,
            # but one for a visit already under way is recorded as expired, not sent.
            status = NotificationStatus.OPEN if now < starts_at else NotificationStatus.EXPIRED
            when = starts_at.astimezone(ZoneInfo(row.timezone)).strftime("%Y-%m-%d %H:%M")
            message = f"pump {row.serial}: refill appointment {when} (reminder {days} d before)"
            decide(key, "reminder", NotificationLevel.INFO, trigger, message, status)
    overdue_key = f"overdue:{appointment_id}"
    if row.ends_at + grace <= now and overdue_key not in done:
        message = f"pump {row.serial}: refill appointment passed without a recorded refill"
        decide(overdue_key, "overdue", NotificationLevel.ESCALATION, row.ends_at + grace, message)
    alarm_key = f"alarm-before:{appointment_id}"
    if row.alarm_at is not None and starts_at > row.alarm_at and alarm_key not in done:
        message = f"pump {row.serial}: forecast low reservoir {row.alarm_at.isoformat()} before the appointment"
        decide(alarm_key, "alarm_before_visit", NotificationLevel.ESCALATION, now, message)
    moments = decision_moments(
        appointment_id, starts_at=starts_at, ends_at=row.ends_at, reminder_days=reminder_days, grace=grace
    )
    basis = _Basis(row.status, starts_at, row.ends_at, row.clinic_id, row.next_decision_at, row.alarm_at)
    return _AppointmentPlan(appointment_id, basis, tuple(decisions), next_decision_after(moments, done, now))


def _possible_keys(appointment_id: int, reminder_days: Sequence[int]) -> list[str]:
    keys = [reminder_key(appointment_id, days) for days in reminder_days]
    return [*keys, f"overdue:{appointment_id}", f"alarm-before:{appointment_id}"]


def find_due(session: Session, *, settings: Settings, now: datetime) -> DuePlan:
    """The decisions due at ``now`` and not yet taken: reads only, by indexed queries."""
    rows = session.execute(
        select_columns(
            col(Appointment.id),
            col(Appointment.pump_id),
            col(Appointment.clinic_id),
            col(Appointment.status),
            col(Appointment.starts_at),
            col(Appointment.ends_at),
            col(Appointment.next_decision_at),
            col(Pump.serial),
            col(Pump.alarm_at),
            col(Clinic.reminder_days),
            col(Clinic.timezone),
        )
        .join(Pump, col(Pump.id) == Appointment.pump_id)
        .join(Clinic, col(Clinic.id) == Appointment.clinic_id)
        .where(col(Appointment.status) == AppointmentStatus.BOOKED, col(Appointment.next_decision_at) <= now)
        .order_by(col(Appointment.next_decision_at), col(Appointment.id))
    ).all()
    days_of = {row.id: list(row.reminder_days or settings.reminder_days) for row in rows}
    taken = _taken_keys(session, [key for row in rows for key in _possible_keys(row.id, days_of[row.id])])
    grace = timedelta(hours=settings.overdue_grace_hours)
    plans = tuple(_plan_appointment(row, taken, reminder_days=days_of[row.id], grace=grace, now=now) for row in rows)
    batteries = tuple(
        _BatteryPlan(
            state,
            Decision(
                key=f"battery:{pump_id}:{state}",
                kind="battery",
                level=NotificationLevel.ESCALATION,
                pump_id=pump_id,
                appointment_id=None,
                trigger_at=now,
                message=f"pump {serial}: battery {state}; plan the replacement",
            ),
        )
        for pump_id, serial, state in session.exec(_undecided_batteries()).all()
    )
    return DuePlan(now=now, appointments=plans, batteries=batteries)


def _record(session: Session, decision: Decision, now: datetime, report: TickReport, taken: set[str]) -> None:
    if decision.key in taken:
        return
    session.add(
        Notification(
            key=decision.key,
            kind=decision.kind,
            level=decision.level,
            pump_id=decision.pump_id,
            appointment_id=decision.appointment_id,
            trigger_at=decision.trigger_at,
            created_at=now,
            status=decision.status,
            message=decision.message[:300],
            data={},
        )
    )
    taken.add(decision.key)
    report.created[decision.kind] += 1


def record_due(session: Session, plan: DuePlan) -> TickReport:
    """Write the decisions of ``plan`` whose basis still holds and whose key is still absent.

    An appointment that changed since ``plan`` was read (closed, moved, its pump's forecast or its
    clinic changed) is left alone: the change reset its ``next_decision_at``, so the next tick
    decides it from the new state. Its due moment advances past the decisions recorded.
    """
    report = TickReport()
    if plan.empty:
        return report
    ids = [item.appointment_id for item in plan.appointments]
    current: dict[int, tuple[Appointment, datetime | None]] = {}
    for part in _chunks(ids):
        query = select(Appointment, Pump.alarm_at).join(Pump, col(Pump.id) == Appointment.pump_id)
        for appointment, alarm_at in session.exec(query.where(col(Appointment.id).in_(part))).all():
            current[appointment.id or 0] = (appointment, alarm_at)
    pump_ids = [item.decision.pump_id for item in plan.batteries]
    states: dict[int | None, str | None] = {}
    for part in _chunks(pump_ids):
        states.update(session.exec(select(Pump.id, Pump.battery_state).where(col(Pump.id).in_(part))).all())
    wanted = [d.key for item in plan.appointments for d in item.decisions] + [b.decision.key for b in plan.batteries]
    taken = _taken_keys(session, wanted)
    for item in plan.appointments:
        found = current.get(item.appointment_id)
        if found is None or _basis_of(*found) != item.basis:
            continue
        appointment = found[0]
        for decision in item.decisions:
            _record(session, decision, plan.now, report, taken)
        if appointment.next_decision_at != item.advance_to:
            appointment.next_decision_at = item.advance_to
            session.add(appointment)
    for battery in plan.batteries:
        if states.get(battery.decision.pump_id) == battery.battery_state:
            _record(session, battery.decision, plan.now, report, taken)
    session.flush()
    return report


def _basis_of(appointment: Appointment, alarm_at: datetime | None) -> _Basis:
    return _Basis(
        appointment.status,
        appointment.starts_at,
        appointment.ends_at,
        appointment.clinic_id,
        appointment.next_decision_at,
        alarm_at,
    )


def process_due(session: Session, *, settings: Settings, now: datetime) -> TickReport:
    """Take every decision that is due at ``now`` and not yet taken, in the caller's transaction."""
    return record_due(session, find_due(session, settings=settings, now=now))


def next_decision_time(session: Session) -> datetime | None:
    """The earliest moment a pending decision becomes due (None: nothing pending), by two indexed reads.

    A moment at or before the caller's now (:data:`DUE_AT_NEXT_TICK` for a battery decision or one
    whose moment only the tick can compute) means: tick now. The clinic test bench, which moves its
    virtual clock from event to event, asks this between events.
    """
    if session.exec(_undecided_batteries().limit(1)).first() is not None:
        return DUE_AT_NEXT_TICK
    return session.exec(
        select(Appointment.next_decision_at)
        .where(Appointment.status == AppointmentStatus.BOOKED, col(Appointment.next_decision_at).is_not(None))
        .order_by(col(Appointment.next_decision_at))
        .limit(1)
    ).first()


def clinic_zone(clinic: Clinic) -> ZoneInfo:
    return ZoneInfo(clinic.timezone)


def list_notifications(session: Session, *, open_only: bool = True, limit: int = 200) -> list[Notification]:
    query = select(Notification)
    if open_only:
        query = query.where(Notification.status == NotificationStatus.OPEN)
    return list(session.exec(query.order_by(col(Notification.created_at).desc()).limit(limit)).all())


def notification_page(
    session: Session, *, open_only: bool, request: PageRequest
) -> tuple[list[Notification], str | None]:
    """A page of the notifications (open ones only, if ``open_only``), newest first, and the next cursor.

    Raises:
        RuleViolationError: a cursor of another list.
    """
    query = select(Notification)
    if open_only:
        query = query.where(Notification.status == NotificationStatus.OPEN)
    name = "notifications:open" if open_only else "notifications:all"
    statement = select_page(
        query,
        (col(Notification.created_at), col(Notification.id)),
        (datetime, int),
        request=request,
        list_name=name,
        descending=True,
    )
    return rows_page(
        session.exec(statement).all(), key=lambda n: (n.created_at, n.id or 0), request=request, list_name=name
    )


def acknowledge(session: Session, notification_id: int, *, actor: Actor, now: datetime) -> Notification:
    """Mark a notification handled by ``actor``.

    Raises:
        NotFoundError: no such notification.
        ConflictError: it is not open.
    """
    row = session.get(Notification, notification_id)
    if row is None:
        raise NotFoundError(f"no notification {notification_id}")
    if row.status != NotificationStatus.OPEN:
        raise ConflictError(f"notification {notification_id} is {row.status}")
    row.status = NotificationStatus.ACKNOWLEDGED
    row.acknowledged_at = now
    row.acknowledged_by = actor.user
    session.add(row)
    session.flush()
    return row


def close_for_appointment(session: Session, appointment_id: int, *, actor: Actor, now: datetime) -> int:
    """Close the open reminders of an appointment that was completed, cancelled or moved.

    Only reminders: an escalation (a no-show, no free slot) must still reach someone after the
    appointment it is attached to moves. Returns how many were closed.
    """
    rows = session.exec(
        select(Notification).where(
            Notification.appointment_id == appointment_id,
            Notification.status == NotificationStatus.OPEN,
            Notification.kind == "reminder",
        )
    ).all()
    for row in rows:
        row.status = NotificationStatus.CLOSED
        row.acknowledged_at = now
        row.acknowledged_by = actor.user
        session.add(row)
    return len(rows)
