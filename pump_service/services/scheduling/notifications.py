"""The scheduler's decisions: reminders and escalations, each recorded once under a unique key.

:func:`process_due` is what a tick decides: every reminder whose time has come, every visit that
is overdue, every appointment now later than the pump's forecast alarm, every battery at ERI or
EOS. Each decision has a key (``reminder:<appointment>:<N>d``...), and a decision whose key exists
is not taken again, so a tick that runs twice, late, or after days of downtime acts exactly once
per item.

A tick costs what is due, not what is stored (tick.py): the scheduler runs :func:`find_due` in a
read transaction (a snapshot, never SQLite's write lock), then :func:`record_due` in a short write
transaction that re-checks each decision. :func:`process_due` runs both in the caller's session.
:func:`next_decision_time` tells a caller in virtual time when to tick next.
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from pump_service.errors import ConflictError, NotFoundError
from pump_service.persistence.models import Pump
from pump_service.persistence.rows import pump_id_of
from pump_service.persistence.schedule_models import (
    Appointment,
    Clinic,
    Notification,
    NotificationLevel,
    NotificationStatus,
)
from pump_service.services.actor import Actor
from pump_service.services.paging import PageRequest, rows_page, select_page
from pump_service.services.scheduling.decision_due import install_decision_due_hook
from pump_service.services.scheduling.tick import DuePlan, TickReport, find_due, next_decision_time, record_due
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

# Every session that can book or move an appointment imports this module (booking.py does).
install_decision_due_hook()


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


def process_due(session: Session, *, settings: Settings, now: datetime) -> TickReport:
    """Take every decision that is due at ``now`` and not yet taken, in the caller's transaction."""
    return record_due(session, find_due(session, settings=settings, now=now))


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
