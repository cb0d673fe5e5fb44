"""The scheduler's decisions: reminders and escalations, each recorded once under a unique key.

:func:`process_due` is what the scheduler's tick calls. It looks at the database (the source of
truth), not at what ran before: every reminder whose time has come, every visit that is overdue,
every appointment now later than the pump's forecast alarm, every battery at ERI or EOS. Each
decision has a key (``reminder:<appointment>:<N>d``...), and a decision whose key exists is not
taken again, so a tick that runs twice, late, or after days of downtime acts exactly once per item.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from pump_service.settings import Settings

__all__ = [
    "TickReport",
    "acknowledge",
    "close_for_appointment",
    "list_notifications",
    "notification_page",
    "notify",
    "process_due",
]


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


def _existing(session: Session, prefix: str) -> set[str]:
    rows = session.exec(select(Notification.key).where(col(Notification.key).startswith(prefix))).all()
    return set(rows)


def process_due(session: Session, *, settings: Settings, now: datetime) -> TickReport:
    """Take every decision that is due at ``now`` and not yet taken."""
    report = TickReport()
    booked = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED)).all()
    pumps = {p.id: p for p in session.exec(select(Pump)).all()}
    clinics = {c.id: c for c in session.exec(select(Clinic)).all()}
    taken = _existing(session, "reminder:") | _existing(session, "overdue:") | _existing(session, "alarm-before:")
    grace = timedelta(hours=settings.overdue_grace_hours)
    for appointment in booked:
        pump = pumps[appointment.pump_id]
        clinic = clinics[appointment.clinic_id]
        for days in clinic.reminder_days or settings.reminder_days:
            key = f"reminder:{appointment.id}:{days}d"
            trigger = appointment.starts_at - timedelta(days=days)
            if trigger <= now and key not in taken:
                # A reminder whose moment passed while the service was down still counts once,
                # but one for a visit already under way is recorded as expired, not sent.
                status = NotificationStatus.OPEN if now < appointment.starts_at else NotificationStatus.EXPIRED
                when = appointment.starts_at.astimezone(clinic_zone(clinic)).strftime("%Y-%m-%d %H:%M")
                message = f"pump {pump.serial}: refill appointment {when} (reminder {days} d before)"
                if notify(session, key=key, kind="reminder", level=NotificationLevel.INFO, pump=pump,
                          appointment=appointment, trigger_at=trigger, now=now, message=message,
                          status=status):  # fmt: skip
                    report.created["reminder"] += 1
        overdue_key = f"overdue:{appointment.id}"
        if appointment.ends_at + grace <= now and overdue_key not in taken:
            message = f"pump {pump.serial}: refill appointment passed without a recorded refill"
            if notify(session, key=overdue_key, kind="overdue", level=NotificationLevel.ESCALATION, pump=pump,
                      appointment=appointment, trigger_at=appointment.ends_at + grace, now=now,
                      message=message):  # fmt: skip
                report.created["overdue"] += 1
        alarm_key = f"alarm-before:{appointment.id}"
        if pump.alarm_at is not None and appointment.starts_at > pump.alarm_at and alarm_key not in taken:
            message = f"pump {pump.serial}: forecast low reservoir {pump.alarm_at.isoformat()} before the appointment"
            if notify(session, key=alarm_key, kind="alarm_before_visit", level=NotificationLevel.ESCALATION, pump=pump,
                      appointment=appointment, trigger_at=now, now=now, message=message):  # fmt: skip
                report.created["alarm_before_visit"] += 1
    for pump in pumps.values():
        if pump.battery_state in {"ERI", "EOS"}:
            key = f"battery:{pump.id}:{pump.battery_state}"
            message = f"pump {pump.serial}: battery {pump.battery_state}; plan the replacement"
            if notify(session, key=key, kind="battery", level=NotificationLevel.ESCALATION, pump=pump, appointment=None,
                      trigger_at=now, now=now, message=message):  # fmt: skip
                report.created["battery"] += 1
    return report


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
