"""When the scheduler next has something to decide, so the clock can jump straight there.

This is the one place the bench asks it. Until the service offers
``services.scheduling.notifications.next_decision_time(session)``, it is computed here from the
same tables the tick reads: a booked appointment's start minus each reminder day, its end plus
the overdue grace, and "now" while a forecast-alarm or battery escalation is pending.
"""

from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, exists, func, literal, select
from sqlmodel import Session

from pump_service.persistence.db import read_transaction
from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Notification
from pump_service.settings import Settings

__all__ = ["scheduler_wakeup"]


def scheduler_wakeup(engine: Engine, settings: Settings, *, after: datetime) -> datetime | None:
    """The earliest moment after ``after`` (the last tick) at which a decision not yet taken becomes due."""
    booked = Appointment.status == AppointmentStatus.BOOKED  # type: ignore[arg-type]
    candidates: list[datetime] = []
    with read_transaction(engine) as session:
        for days in settings.reminder_days:
            first = session.scalar(
                select(func.min(Appointment.starts_at)).where(booked, Appointment.starts_at > after + timedelta(days=days))  # type: ignore[arg-type]
            )
            if first is not None:
                candidates.append(first - timedelta(days=days))
        grace = timedelta(hours=settings.overdue_grace_hours)
        first_end = session.scalar(
            select(func.min(Appointment.ends_at)).where(booked, Appointment.ends_at > after - grace)  # type: ignore[arg-type]
        )
        if first_end is not None:
            candidates.append(first_end + grace)
        if _immediate_pending(session):
            candidates.append(after)
    return min(candidates, default=None)


def _immediate_pending(session: Session) -> bool:
    """An appointment later than its pump's forecast alarm, or a battery at ERI/EOS, not yet escalated."""
    alarm_key = literal("alarm-before:") + func.cast(Appointment.id, Notification.key.type)  # type: ignore[attr-defined]
    late = session.scalar(
        select(func.count())
        .select_from(Appointment)
        .join(Pump, Pump.id == Appointment.pump_id)  # type: ignore[arg-type]
        .where(
            Appointment.status == AppointmentStatus.BOOKED,  # type: ignore[arg-type]
            Pump.alarm_at.is_not(None),  # type: ignore[union-attr]
            Appointment.starts_at > Pump.alarm_at,  # type: ignore[operator]
            ~exists().where(Notification.key == alarm_key),  # type: ignore[arg-type]
        )
    )
    if late:
        return True
    battery_key = (
        literal("battery:") + func.cast(Pump.id, Notification.key.type) + literal(":") + Pump.battery_state  # type: ignore[attr-defined,operator]
    )
    battery = session.scalar(
        select(func.count())
        .select_from(Pump)
        .where(
            Pump.battery_state.in_(("ERI", "EOS")),  # type: ignore[union-attr]
            ~exists().where(and_(Notification.key == battery_key)),  # type: ignore[arg-type]
        )
    )
    return bool(battery)
