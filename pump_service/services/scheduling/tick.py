"""The scheduler tick's two phases: find what is due (reads only), then record it (a short write).

:func:`find_due` reads only the booked appointments whose ``next_decision_at`` has come
(decision_due.py keeps that column right) and the ERI/EOS pumps without their battery key, by
indexed queries, and decides exactly as the full scan did before: reminders per the clinic's
reminder days (the settings' when it has none; EXPIRED once the visit has started), the overdue
escalation after ``ends_at`` plus the grace, the alarm-before-visit escalation when the booked
start is after the pump's forecast alarm, the battery escalation at ERI/EOS.

:func:`record_due` runs in the write transaction: it re-reads each candidate and drops a decision
whose basis changed meanwhile (the change reset the due moment, so the next tick decides from the
new state) or whose key now exists; the unique key on ``notification.key`` is the last guard
(``ON CONFLICT DO NOTHING``: two leaders overlapping during a takeover both try, one inserts), so
a decision is never recorded twice. It writes with Core statements built once (a tick runs every
minute, and building a statement costs more than running it) and queues the audit entries itself.
"""

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, cast, literal, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    Notification,
    NotificationLevel,
    NotificationStatus,
)
from pump_service.services.audit.pending import capture
from pump_service.services.scheduling.decision_due import (
    DUE_AT_NEXT_TICK,
    decision_moments,
    next_decision_after,
    reminder_key,
)
from pump_service.settings import Settings

__all__ = ["Decision", "DuePlan", "TickReport", "find_due", "next_decision_time", "record_due"]

BATTERY_STATES = ("ERI", "EOS")
# The tick's statements are Core on the session's connection: a tick runs every minute, and the
# ORM's per-statement work would cost more than the few rows it reads.
_NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
_APPOINTMENTS = Appointment.__table__  # type: ignore[attr-defined]
_PUMPS = Pump.__table__  # type: ignore[attr-defined]
_CLINICS = Clinic.__table__  # type: ignore[attr-defined]
_KEYS_PER_QUERY = 500  # bound parameters per IN list, well under SQLite's limit


@dataclass
class TickReport:
    """What one tick decided, by kind."""

    created: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.created.values())


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
    connection = session.connection()
    for part in _chunks(wanted):
        taken.update(connection.execute(_TAKEN, {"keys": list(part)}).scalars())
    return taken


def _undecided_batteries() -> Any:
    """Pumps at ERI or EOS without their battery decision (indexed on battery_state and on the key)."""
    key = literal("battery:") + cast(_PUMPS.c.id, String) + literal(":") + _PUMPS.c.battery_state
    decided = select_columns(_NOTIFICATIONS.c.id).where(_NOTIFICATIONS.c.key == key).exists()
    return select_columns(_PUMPS.c.id, _PUMPS.c.serial, _PUMPS.c.battery_state).where(
        _PUMPS.c.battery_state.in_(BATTERY_STATES), ~decided
    )


def _candidates() -> Any:
    """Booked appointments whose next decision is due at ``:now``, with what deciding them needs."""
    a, p, c = _APPOINTMENTS.c, _PUMPS.c, _CLINICS.c
    return (
        select_columns(
            a.id,
            a.pump_id,
            a.clinic_id,
            a.status,
            a.starts_at,
            a.ends_at,
            a.next_decision_at,
            p.serial,
            p.alarm_at,
            c.reminder_days,
            c.timezone,
        )
        .join(_PUMPS, p.id == a.pump_id)
        .join(_CLINICS, c.id == a.clinic_id)
        .where(a.status == AppointmentStatus.BOOKED, a.next_decision_at <= bindparam("now"))
        .order_by(a.next_decision_at, a.id)
    )


def _bases() -> Any:
    a = _APPOINTMENTS.c
    return (
        select_columns(a.id, a.status, a.starts_at, a.ends_at, a.clinic_id, a.next_decision_at, _PUMPS.c.alarm_at)
        .join(_PUMPS, _PUMPS.c.id == a.pump_id)
        .where(a.id.in_(bindparam("ids", expanding=True)))
    )


# Built once: the tick runs every minute, and building a statement costs more than running it.
_CANDIDATES = _candidates()
_UNDECIDED_BATTERIES = _undecided_batteries()
_FIRST_BATTERY = _UNDECIDED_BATTERIES.limit(1)
_TAKEN = select_columns(_NOTIFICATIONS.c.key).where(_NOTIFICATIONS.c.key.in_(bindparam("keys", expanding=True)))
_BASES = _bases()
_BATTERY_STATES = select_columns(_PUMPS.c.id, _PUMPS.c.battery_state).where(
    _PUMPS.c.id.in_(bindparam("ids", expanding=True))
)
_FIRST_DUE = (
    select_columns(_APPOINTMENTS.c.next_decision_at)
    .where(_APPOINTMENTS.c.status == AppointmentStatus.BOOKED, _APPOINTMENTS.c.next_decision_at.is_not(None))
    .order_by(_APPOINTMENTS.c.next_decision_at)
    .limit(1)
)
# INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id, key: a decision another leader recorded
# a moment ago (two leaders overlapping during a takeover) is skipped, not an error.
_INSERT = {
    "postgresql": postgresql_insert(_NOTIFICATIONS)
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(_NOTIFICATIONS.c.id, _NOTIFICATIONS.c.key),
    "sqlite": sqlite_insert(_NOTIFICATIONS)
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(_NOTIFICATIONS.c.id, _NOTIFICATIONS.c.key),
}
_ADVANCE = (
    update(_APPOINTMENTS)
    .where(
        _APPOINTMENTS.c.id == bindparam("row_id"),
        _APPOINTMENTS.c.next_decision_at.is_not_distinct_from(bindparam("seen")),
    )
    .values(next_decision_at=bindparam("moment"))
)


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
    session.flush()  # the caller's pending ORM changes first, as a query would autoflush them
    connection = session.connection()
    rows = connection.execute(_CANDIDATES, {"now": now}).all()
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
        for pump_id, serial, state in connection.execute(_UNDECIDED_BATTERIES).all()
    )
    return DuePlan(now=now, appointments=plans, batteries=batteries)


ADVANCE_NOTE = "the tick's bookkeeping: when each appointment's next decision becomes due"


def _insert_notifications(session: Session, decisions: list[Decision], now: datetime) -> set[str]:
    """One Core INSERT for the tick's notifications, each audited as the ORM hooks would audit it.

    Returns the keys actually inserted: a key that exists already (another leader's tick committed
    it meanwhile) is skipped by the database, and neither audited nor counted here.
    """
    rows: list[dict[str, Any]] = [
        {
            "key": d.key,
            "kind": d.kind,
            "level": d.level,
            "pump_id": d.pump_id,
            "appointment_id": d.appointment_id,
            "trigger_at": d.trigger_at,
            "created_at": now,
            "status": d.status,
            "message": d.message[:300],
            "data": {},
            "acknowledged_at": None,
            "acknowledged_by": None,
        }
        for d in decisions
    ]
    connection = session.connection()
    inserted = {key: row_id for row_id, key in connection.execute(_INSERT[connection.dialect.name], rows).all()}
    for row in rows:
        row_id = inserted.get(row["key"])
        if row_id is None:
            continue
        values = {"id": row_id, **row}
        capture(session, action="insert", entity=Notification.__tablename__, entity_id=str(row_id), before=None,
                after=values)  # fmt: skip
    return set(inserted)


def _advance(session: Session, moves: dict[int, tuple[datetime | None, datetime | None]]) -> None:
    """Store each appointment's next due moment (Core, guarded by the value read); one audit entry."""
    values = [{"row_id": i, "seen": old, "moment": new} for i, (old, new) in moves.items()]
    session.connection().execute(_ADVANCE, values)
    for row_id in moves:  # an ORM copy of the row in this session would now hold a stale value
        loaded = session.identity_map.get(identity_key(Appointment, row_id))
        if loaded is not None:
            session.expire(loaded, ["next_decision_at"])
    capture(
        session,
        action="update",
        entity=Appointment.__tablename__,
        entity_id=None,
        before={"next_decision_at": {str(i): old for i, (old, _new) in moves.items()}},
        after={"next_decision_at": {str(i): new for i, (_old, new) in moves.items()}},
        note=ADVANCE_NOTE,
    )


def _current_bases(session: Session, ids: list[int]) -> dict[int, _Basis]:
    bases: dict[int, _Basis] = {}
    connection = session.connection()
    for part in _chunks(ids):
        for row in connection.execute(_BASES, {"ids": list(part)}):
            bases[row.id] = _Basis(
                AppointmentStatus(row.status), row.starts_at, row.ends_at, row.clinic_id, row.next_decision_at,
                row.alarm_at,
            )  # fmt: skip
    return bases


def record_due(session: Session, plan: DuePlan) -> TickReport:
    """Write the decisions of ``plan`` whose basis still holds and whose key is still absent.

    An appointment that changed since ``plan`` was read (closed, moved, its pump's forecast or its
    clinic changed, or another tick decided it) is left alone: the change reset its
    ``next_decision_at``, so the next tick decides it from the new state. The others' due moment
    advances past the decisions recorded. Core statements (a tick's writes are few but run often),
    audited here as the ORM hooks would: one entry per notification, one for the moments advanced.
    """
    report = TickReport()
    if plan.empty:
        return report
    session.flush()  # the caller's pending ORM changes first, as a query would autoflush them
    bases = _current_bases(session, [item.appointment_id for item in plan.appointments])
    states: dict[int, str | None] = {}
    for part in _chunks([item.decision.pump_id for item in plan.batteries]):
        rows = session.connection().execute(_BATTERY_STATES, {"ids": list(part)})
        states.update((row.id, row.battery_state) for row in rows)
    wanted = [d.key for item in plan.appointments for d in item.decisions] + [b.decision.key for b in plan.batteries]
    taken = _taken_keys(session, wanted)
    chosen: list[Decision] = []

    def choose(decision: Decision) -> None:
        if decision.key not in taken:
            taken.add(decision.key)
            chosen.append(decision)

    moves: dict[int, tuple[datetime | None, datetime | None]] = {}
    for item in plan.appointments:
        if bases.get(item.appointment_id) != item.basis:
            continue
        for decision in item.decisions:
            choose(decision)
        if item.basis.next_decision_at != item.advance_to:
            moves[item.appointment_id] = (item.basis.next_decision_at, item.advance_to)
    for battery in plan.batteries:
        if states.get(battery.decision.pump_id) == battery.battery_state:
            choose(battery.decision)
    if chosen:
        inserted = _insert_notifications(session, chosen, plan.now)
        report.created.update(d.kind for d in chosen if d.key in inserted)
    if moves:
        _advance(session, moves)
    return report


def next_decision_time(session: Session) -> datetime | None:
    """The earliest moment a pending decision becomes due (None: nothing pending), by two indexed reads.

    A moment at or before the caller's now (:data:`DUE_AT_NEXT_TICK` for a battery decision or one
    whose moment only the tick can compute) means: tick now. The clinic test bench, which moves its
    virtual clock from event to event, asks this between events.
    """
    connection = session.connection()
    if connection.execute(_FIRST_BATTERY).first() is not None:
        return DUE_AT_NEXT_TICK
    first: datetime | None = connection.execute(_FIRST_DUE).scalar()
    return first
