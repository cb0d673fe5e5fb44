"""When an appointment's next scheduler decision can become due: ``appointment.next_decision_at``.

The tick reads only appointments whose ``next_decision_at`` has come (an index on ``(status,
next_decision_at)``), so the column must never be later than the true moment of a pending
decision, or that decision would be late. Two writers keep it so:

- this module's ``before_flush`` hook, at every ORM write that can move a decision (an appointment
  booked, moved, closed or given another clinic; a pump's forecast alarm changed; a clinic's
  reminder days changed). It knows no settings, so it stores a *lower bound*: the earliest
  reminder of the clinic's list, or :data:`DUE_AT_NEXT_TICK` when the moment depends on the
  settings (a clinic without its own reminder days) or the decision is due at once (the
  appointment now after the pump's forecast alarm);
- the tick, after deciding, which knows the settings and the keys taken, and stores the exact
  next moment (or NULL when no decision of the appointment remains).

A lower bound costs at most one look at the appointment by a tick that then decides nothing.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import Session, UOWTransaction
from sqlmodel import select

from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic
from pump_service.services.audit.pending import capture

__all__ = [
    "DUE_AT_NEXT_TICK",
    "decision_moments",
    "earliest_decision_at",
    "install_decision_due_hook",
    "next_decision_after",
    "reminder_key",
]

# Earlier than any tick: "look at this appointment at the next tick" (its exact moment is unknown).
DUE_AT_NEXT_TICK = datetime(1970, 1, 1, tzinfo=UTC)
_WATCHED_APPOINTMENT = ("starts_at", "ends_at", "status", "clinic_id")


def reminder_key(appointment_id: int, days: int) -> str:
    return f"reminder:{appointment_id}:{days}d"


def decision_moments(
    appointment_id: int, *, starts_at: datetime, ends_at: datetime, reminder_days: Iterable[int], grace: timedelta
) -> dict[str, datetime]:
    """The timed decisions of a booked appointment, key to the moment it becomes due."""
    moments = {reminder_key(appointment_id, days): starts_at - timedelta(days=days) for days in reminder_days}
    moments[f"overdue:{appointment_id}"] = ends_at + grace
    return moments


def next_decision_after(moments: Mapping[str, datetime], taken: Iterable[str], now: datetime) -> datetime | None:
    """The next moment after ``now`` a decision not in ``taken`` becomes due; None if none remains.

    The alarm-before-visit decision has no moment of its own: it becomes due when the pump's
    forecast or the appointment changes, and the hook looks again then.
    """
    done = set(taken)
    future = [moment for key, moment in moments.items() if key not in done and moment > now]
    return min(future, default=None)


def earliest_decision_at(
    *,
    status: AppointmentStatus,
    starts_at: datetime,
    clinic_reminder_days: list[int] | None,
    alarm_at: datetime | None,
) -> datetime | None:
    """A moment no later than the appointment's next decision, from its row alone (no settings)."""
    if status != AppointmentStatus.BOOKED:
        return None
    if alarm_at is not None and starts_at > alarm_at:
        return DUE_AT_NEXT_TICK  # the alarm-before-visit escalation is due now
    if not clinic_reminder_days:
        return DUE_AT_NEXT_TICK  # the settings' reminder days apply: the tick knows them
    # Reminder days are >= 0, so the earliest reminder is never after the start, nor the overdue
    # escalation (ends_at + grace >= starts_at).
    return starts_at - timedelta(days=max(clinic_reminder_days))


def _changed(obj: object, names: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _reminder_days_of(session: Session, clinic_id: int | None) -> list[int] | None:
    clinic = session.get(Clinic, clinic_id) if clinic_id is not None else None
    return None if clinic is None else list(clinic.reminder_days)


def _alarm_of(session: Session, pump_id: int | None) -> datetime | None:
    pump = session.get(Pump, pump_id) if pump_id is not None else None
    return None if pump is None else pump.alarm_at


def _refresh(session: Session, appointment: Appointment, alarm_at: datetime | None) -> None:
    value = earliest_decision_at(
        status=appointment.status,
        starts_at=appointment.starts_at,
        clinic_reminder_days=_reminder_days_of(session, appointment.clinic_id),
        alarm_at=alarm_at,
    )
    if appointment.next_decision_at != value:
        appointment.next_decision_at = value


def _on_before_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    with session.no_autoflush:
        pumps_changed = [obj for obj in session.dirty if isinstance(obj, Pump) and _changed(obj, ("alarm_at",))]
        clinics_changed = [
            obj for obj in session.dirty if isinstance(obj, Clinic) and _changed(obj, ("reminder_days",))
        ]
        for obj in list(session.new) + list(session.dirty):
            if isinstance(obj, Appointment) and (obj in session.new or _changed(obj, _WATCHED_APPOINTMENT)):
                _refresh(session, obj, _alarm_of(session, obj.pump_id))
        for pump in pumps_changed:
            query = select(Appointment).where(Appointment.pump_id == pump.id)
            booked = session.scalars(query.where(Appointment.status == AppointmentStatus.BOOKED)).all()
            for appointment in booked:
                _refresh(session, appointment, pump.alarm_at)
        for clinic in clinics_changed:
            _look_again_at_clinic(session, clinic)


def _look_again_at_clinic(session: Session, clinic: Clinic) -> None:
    """A clinic's reminder days changed: its booked appointments are looked at by the next tick.

    One Core UPDATE (a clinic may hold thousands of bookings), so one audit entry says what it did.
    """
    if clinic.id is None:
        return
    table = Appointment.__table__  # type: ignore[attr-defined]
    result: Any = session.execute(
        update(table)
        .where(table.c.clinic_id == clinic.id, table.c.status == AppointmentStatus.BOOKED.value)
        .values(next_decision_at=DUE_AT_NEXT_TICK)
    )
    capture(
        session,
        action="update",
        entity=Appointment.__tablename__,
        entity_id=None,
        before=None,
        after={"clinic_id": clinic.id, "next_decision_at": DUE_AT_NEXT_TICK.isoformat(), "rows": result.rowcount},
        note="the clinic's reminder days changed: its booked appointments are looked at again by the next tick",
    )


def install_decision_due_hook() -> None:
    """Keep ``next_decision_at`` right on every ORM session (idempotent).

    Inserted before the audit trail's own ``before_flush``, so the audit sees the column's change.
    """
    if not event.contains(Session, "before_flush", _on_before_flush):
        event.listen(Session, "before_flush", _on_before_flush, insert=True)
