"""A clinic's day as the station's worklist shows it: the day's appointments, what is overdue, open escalations.

Built from the calendar (:func:`~.views.appointment_views`), the front desk's chase list
(:func:`~.worklist.worklist`), the due list and the open notifications; each pump comes with its
drug and the result of its last visit so a nurse sees what to expect before opening it.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from pump_service.persistence.models import Pump, PumpState
from pump_service.persistence.rows import clinic_id_of
from pump_service.persistence.schedule_models import Clinic, Notification, NotificationLevel, NotificationStatus
from pump_service.services.pumps.history import LastResult, last_results
from pump_service.services.scheduling.contracts import WorklistItem
from pump_service.services.scheduling.views import (
    AppointmentView,
    NotificationView,
    appointment_views,
    notification_view,
)
from pump_service.services.scheduling.worklist import worklist
from pump_service.settings import Settings

__all__ = ["DaySheet", "OverduePump", "day_sheet"]


@dataclass(frozen=True, slots=True)
class OverduePump:
    """A pump of the clinic whose refill due date has passed."""

    serial: str
    due_at: datetime
    days_overdue: float


@dataclass(frozen=True, slots=True)
class DaySheet:
    clinic_id: str
    clinic_name: str
    timezone: str
    day: date
    appointments: tuple[AppointmentView, ...]
    chase: tuple[WorklistItem, ...]  # overdue bookings and no-shows not refilled since
    overdue: tuple[OverduePump, ...]
    escalations: tuple[NotificationView, ...]
    pumps: dict[str, LastResult]  # every serial above: its drug and last visit


def day_sheet(session: Session, clinic: Clinic, day: date, *, settings: Settings, now: datetime) -> DaySheet:
    """The clinic's worklist for local ``day`` (the chase list and escalations are as of ``now``)."""
    key = clinic_id_of(clinic)
    appointments = appointment_views(session, clinic, day, 1)
    chase = worklist(session, clinic, now=now, grace=timedelta(hours=settings.overdue_grace_hours))
    clinic_pumps = session.exec(select(Pump).where(Pump.clinic_id == key, col(Pump.state) != PumpState.EXPLANTED)).all()
    if clinic.clinic_id == settings.clinic_id:  # pumps without a clinic belong to the station's own
        clinic_pumps = [
            *clinic_pumps,
            *session.exec(select(Pump).where(col(Pump.clinic_id).is_(None), col(Pump.state) != PumpState.EXPLANTED)),
        ]
    overdue = tuple(
        OverduePump(p.serial, p.next_due_at, round((now - p.next_due_at).total_seconds() / 86_400, 1))
        for p in sorted(clinic_pumps, key=lambda p: p.next_due_at or now)
        if p.next_due_at is not None and p.next_due_at < now
    )
    by_id = {p.id: p for p in clinic_pumps}
    open_escalations = session.exec(
        select(Notification)
        .where(
            Notification.level == NotificationLevel.ESCALATION,
            Notification.status == NotificationStatus.OPEN,
            col(Notification.pump_id).in_(list(by_id)),
        )
        .order_by(col(Notification.created_at).desc())
    ).all()
    escalations = tuple(notification_view(session, n) for n in open_escalations)
    serials = {a.pump_serial for a in appointments} | {c.pump_serial for c in chase} | {o.serial for o in overdue}
    serials |= {e.pump_serial for e in escalations}
    shown = [p for p in session.exec(select(Pump).where(col(Pump.serial).in_(serials))).all()]
    return DaySheet(
        clinic_id=clinic.clinic_id,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        day=day,
        appointments=tuple(appointments),
        chase=tuple(chase),
        overdue=overdue,
        escalations=escalations,
        pumps=last_results(session, shown),
    )
