"""When the scheduler next has something to decide, so the clock can jump straight there.

This is the one place the bench asks it. Until the service offers
``services.scheduling.notifications.next_decision_time(session)``, it is computed here from the
same tables the tick reads: a booked appointment's start minus each reminder day, its end plus
the overdue grace, and "now" while a forecast-alarm or battery escalation is pending.
"""

from datetime import datetime, timedelta

from sqlalchemy import Engine, String, cast, exists, func, literal
from sqlmodel import Session, col, select

from pump_service.persistence.db import read_transaction
from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Notification
from pump_service.settings import Settings

__all__ = ["scheduler_wakeup"]


def scheduler_wakeup(engine: Engine, settings: Settings, *, after: datetime) -> datetime | None:
    """The earliest moment after ``after`` (the last tick) at which a decision not yet taken becomes due."""
    booked = col(Appointment.status) == AppointmentStatus.BOOKED
    candidates: list[datetime] = []
    with read_transaction(engine) as session:
        for days in settings.reminder_days:
            first = session.exec(
                select(func.min(Appointment.starts_at)).where(
                    booked, col(Appointment.starts_at) > after + timedelta(days=days)
                )
            ).one()
            if first is not None:
                candidates.append(first - timedelta(days=days))
        grace = timedelta(hours=settings.overdue_grace_hours)
        first_end = session.exec(
            select(func.min(Appointment.ends_at)).where(booked, col(Appointment.ends_at) > after - grace)
        ).one()
        if first_end is not None:
            candidates.append(first_end + grace)
        if _immediate_pending(session):
            candidates.append(after)
    return min(candidates, default=None)


def _immediate_pending(session: Session) -> bool:
    """An appointment later than its pump's forecast alarm, or a battery at ERI/EOS, not yet escalated."""
    alarm_key = literal("alarm-before:") + cast(col(Appointment.id), String)
    late = session.exec(
        select(func.count())
        .select_from(Appointment)
        .join(Pump, col(Pump.id) == col(Appointment.pump_id))
        .where(
            col(Appointment.status) == AppointmentStatus.BOOKED,
            col(Pump.alarm_at).is_not(None),
            col(Appointment.starts_at) > col(Pump.alarm_at),
            ~exists().where(col(Notification.key) == alarm_key),
        )
    ).one()
    if late:
        return True
    battery_key = literal("battery:") + cast(col(Pump.id), String) + literal(":") + col(Pump.battery_state)
    battery = session.exec(
        select(func.count())
        .select_from(Pump)
        .where(
            col(Pump.battery_state).in_(("ERI", "EOS")),
            ~exists().where(col(Notification.key) == battery_key),
        )
    ).one()
    return bool(battery)
