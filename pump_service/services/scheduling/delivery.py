"""Delivering notifications through the configured channels, once per channel, with a delivery log.

Like charge delivery (``services/charges/dispatch.py``), a delivery is three steps, so that the
slow part holds no database lock:

1. :func:`due_deliveries` (a short transaction): create the missing delivery rows (one per open
   notification and configured channel that has recipients for it; the row's key is unique and
   inserted with ``ON CONFLICT DO NOTHING``), cancel the rows whose notification no longer needs
   sending (acknowledged, expired, closed, or a reminder whose appointment is no longer booked or
   has begun), claim each row that is due (``next_attempt_at`` unset or past) with an atomic
   compare-and-set that moves ``next_attempt_at`` past the sending, and render each claimed row
   into an :class:`OutgoingMessage`. Two dispatchers (two scheduler leaders overlapping during a
   takeover) cannot both claim a row, so neither sends what the other sends.
2. :func:`send_due`, outside any transaction: each message through its channel.
3. :func:`record_attempts` (a short transaction): each result is written only if its row is still
   ``pending`` with the attempt count read in step 1, so an attempt is recorded exactly once even
   if two dispatchers raced; a delivered row is never sent again. A failure is retried after the
   retry policy's backoff (in the caller's clock) until its ``max_attempts``.

On the wire delivery is at least once: a crash between sending and recording resends, with the
same ``Message-ID`` and ``Idempotency-Key`` (both derive from the delivery key).

What goes out names the patient only by the clinic's pseudonymous reference (``patient_ref``):
never a name, a birth date or the pump's serial number; the stored notification ``message``
(which names the serial, for staff inside the service) is not sent.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, or_, select

from pump_service.errors import NotFoundError
from pump_service.outbound import RetryPolicy
from pump_service.persistence.models import Patient, Pump
from pump_service.persistence.notification_models import (
    DeliveryChannel,
    NotificationDelivery,
    NotificationDeliveryState,
)
from pump_service.persistence.rows import stored_id
from pump_service.persistence.schedule_models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    Notification,
    NotificationStatus,
)
from pump_service.services.paging import Page, PageRequest, rows_page, select_page
from pump_service.services.scheduling.channels import Channel, OutgoingMessage, SendResult, SendStatus
from pump_service.services.scheduling.delivery_claims import (
    DEFAULT_CLAIM_S,
    Claim,
    audit_claims,
    claim_delivery,
    insert_deliveries,
)
from schemas.clock import UtcDatetime

__all__ = [
    "DEFAULT_CLAIM_S",
    "DEFAULT_RETRY",
    "DeliveryChannel",
    "DeliveryReport",
    "DeliveryView",
    "DueDelivery",
    "NotificationDeliveryState",
    "delivery_page",
    "dispatch_notifications",
    "due_deliveries",
    "list_deliveries",
    "record_attempts",
    "render_message",
    "send_due",
]

# Reminders are worth little late: retry within minutes, give up after about half a day.
DEFAULT_RETRY = RetryPolicy(base_delay_s=60.0, factor=2.0, max_delay_s=3600.0, max_attempts=16)
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """One row to send now (step 1's snapshot)."""

    delivery_id: int
    channel: DeliveryChannel
    attempts: int
    recipients: tuple[str, ...]
    message: OutgoingMessage


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt did to one row, as recorded."""

    delivery_id: int
    channel: DeliveryChannel
    state: NotificationDeliveryState
    attempt: int
    next_attempt_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    attempts: tuple[Attempt, ...] = field(default=())
    created: int = 0
    cancelled: int = 0

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(a.state.value for a in self.attempts)
        if self.created:
            counts["created"] = self.created
        if self.cancelled:
            counts["cancelled"] = self.cancelled
        return dict(counts)


@dataclass(frozen=True, slots=True)
class DueSnapshot:
    deliveries: tuple[DueDelivery, ...] = ()
    created: int = 0
    cancelled: int = 0


class DeliveryView(BaseModel):
    """One line of the delivery log."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    delivery_id: int = Field(validation_alias="id")
    key: str
    notification_id: int
    channel: DeliveryChannel
    recipients: list[str]
    state: NotificationDeliveryState
    attempts: int
    created_at: UtcDatetime
    next_attempt_at: UtcDatetime | None
    last_attempt_at: UtcDatetime | None
    delivered_at: UtcDatetime | None
    last_error: str | None


def _create_missing(session: Session, channels: Sequence[Channel], *, now: datetime, max_age: timedelta) -> int:
    notifications = session.exec(
        select(Notification).where(
            Notification.status == NotificationStatus.OPEN, col(Notification.created_at) >= now - max_age
        )
    ).all()
    if not notifications:
        return 0
    ids = [stored_id(n, f"notification {n.key}") for n in notifications]
    existing = set(
        session.exec(
            select(NotificationDelivery.notification_id, NotificationDelivery.channel).where(
                col(NotificationDelivery.notification_id).in_(ids)
            )
        ).all()
    )
    rows: list[dict[str, Any]] = []
    for notification, notification_id in zip(notifications, ids, strict=True):
        for channel in channels:
            if (notification_id, channel.name) in existing:
                continue
            recipients = channel.route(notification.kind, notification.level)
            if recipients is None:
                continue
            rows.append(
                {
                    "key": f"{notification_id}:{channel.name.value}",
                    "notification_id": notification_id,
                    "channel": channel.name,
                    "recipients": list(recipients),
                    "state": NotificationDeliveryState.PENDING,
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": None,
                    "last_attempt_at": None,
                    "delivered_at": None,
                    "last_error": None,
                }
            )
    return insert_deliveries(session, rows)


def _why_not_send(session: Session, notification: Notification, now: datetime) -> str | None:
    if notification.status != NotificationStatus.OPEN:
        return f"notification {notification.status.value} before it was sent"
    if notification.kind == "reminder" and notification.appointment_id is not None:
        appointment = session.get(Appointment, notification.appointment_id)
        if appointment is None or appointment.status != AppointmentStatus.BOOKED:
            return "the appointment is no longer booked"
        if appointment.starts_at <= now:
            return "the appointment has begun"
    return None


def due_deliveries(
    session: Session,
    channels: Sequence[Channel],
    *,
    now: datetime,
    max_age: timedelta,
    limit: int = 100,
    claim_s: float = DEFAULT_CLAIM_S,
) -> DueSnapshot:
    """Step 1: create missing rows, cancel moot ones, and claim and render up to ``limit`` rows due at ``now``.

    Only the rows this call claimed (delivery_claims.py) are returned: a row another dispatcher claimed
    or recorded meanwhile is left to it.
    """
    created = _create_missing(session, channels, now=now, max_age=max_age)
    configured = [c.name for c in channels]
    if not configured:
        return DueSnapshot(created=created)
    rows = session.exec(
        select(NotificationDelivery)
        .where(
            NotificationDelivery.state == NotificationDeliveryState.PENDING,
            col(NotificationDelivery.channel).in_(configured),
            or_(col(NotificationDelivery.next_attempt_at).is_(None), col(NotificationDelivery.next_attempt_at) <= now),
        )
        .order_by(col(NotificationDelivery.id))
        .limit(limit)
    ).all()
    due: list[DueDelivery] = []
    claims: list[Claim] = []
    cancelled = 0
    for row in rows:
        notification = session.get(Notification, row.notification_id)
        reason = "notification gone" if notification is None else _why_not_send(session, notification, now)
        if notification is None or reason is not None:
            row.state = NotificationDeliveryState.CANCELLED
            row.next_attempt_at = None
            row.last_error = reason
            session.add(row)
            cancelled += 1
            continue
        claim = claim_delivery(session, row, now=now, claim_s=claim_s)
        if claim is None:
            continue
        claims.append(claim)
        due.append(
            DueDelivery(
                delivery_id=stored_id(row, f"delivery {row.key}"),
                channel=row.channel,
                attempts=row.attempts,
                recipients=tuple(row.recipients),
                message=render_message(session, notification, delivery_key=row.key),
            )
        )
    audit_claims(session, claims)
    session.flush()
    return DueSnapshot(deliveries=tuple(due), created=created, cancelled=cancelled)


def send_due(
    due: Sequence[DueDelivery], channels: Sequence[Channel], *, now: datetime
) -> list[tuple[DueDelivery, SendResult]]:
    """Step 2 (no database): send each message through its channel."""
    by_name = {c.name: c for c in channels}
    results = []
    for item in due:
        channel = by_name.get(item.channel)
        if channel is not None:
            results.append((item, channel.send(item.message, item.recipients, now=now)))
    return results


def record_attempts(
    session: Session,
    results: Sequence[tuple[DueDelivery, SendResult]],
    *,
    now: datetime,
    policy: RetryPolicy = DEFAULT_RETRY,
    created: int = 0,
    cancelled: int = 0,
) -> DeliveryReport:
    """Step 3: store each result on its row, unless another dispatcher already recorded that attempt."""
    recorded = []
    for item, result in results:
        row = session.get(NotificationDelivery, item.delivery_id)
        if row is None or row.state != NotificationDeliveryState.PENDING or row.attempts != item.attempts:
            continue
        attempt = item.attempts + 1
        reason = result.reason
        next_at: datetime | None = None
        if result.status is SendStatus.DELIVERED:
            state = NotificationDeliveryState.DELIVERED
        elif result.status is SendStatus.FAILED:
            state = NotificationDeliveryState.FAILED
        elif attempt >= policy.max_attempts:
            state, reason = NotificationDeliveryState.FAILED, f"gave up after {attempt} attempts (last: {reason})"
        else:
            state, next_at = NotificationDeliveryState.PENDING, policy.retry_at(row.key, attempt, now)
        row.state = state
        row.attempts = attempt
        row.last_attempt_at = now
        row.next_attempt_at = next_at
        row.delivered_at = now if state is NotificationDeliveryState.DELIVERED else None
        row.last_error = reason[:_MAX_ERROR_CHARS] if reason else None
        session.add(row)
        recorded.append(Attempt(item.delivery_id, item.channel, state, attempt, next_at, reason))
    session.flush()
    return DeliveryReport(attempts=tuple(recorded), created=created, cancelled=cancelled)


def dispatch_notifications(
    session: Session,
    channels: Sequence[Channel],
    *,
    now: datetime,
    max_age: timedelta = timedelta(hours=72),
    policy: RetryPolicy = DEFAULT_RETRY,
) -> DeliveryReport:
    """All three steps in the caller's transaction (tests, one-off use); the scheduler separates them."""
    snapshot = due_deliveries(session, channels, now=now, max_age=max_age)
    results = send_due(snapshot.deliveries, channels, now=now)
    return record_attempts(
        session, results, now=now, policy=policy, created=snapshot.created, cancelled=snapshot.cancelled
    )


def list_deliveries(
    session: Session,
    *,
    notification_id: int | None = None,
    state: NotificationDeliveryState | None = None,
    limit: int = 200,
) -> list[DeliveryView]:
    """The delivery log, newest first: of one notification, or of all.

    Raises:
        NotFoundError: no notification ``notification_id``.
    """
    query = select(NotificationDelivery)
    if notification_id is not None:
        if session.get(Notification, notification_id) is None:
            raise NotFoundError(f"no notification {notification_id}")
        query = query.where(NotificationDelivery.notification_id == notification_id)
    if state is not None:
        query = query.where(NotificationDelivery.state == state)
    rows = session.exec(query.order_by(col(NotificationDelivery.id).desc()).limit(limit)).all()
    return [DeliveryView.model_validate(row) for row in rows]


_TITLES = {
    "reminder": "Refill reminder",
    "overdue": "Missed refill",
    "no_show": "No-show",
    "no_slot": "Late booking",
    "alarm_before_visit": "Reservoir alarm before the appointment",
    "battery": "Pump battery",
}


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z")


def render_message(session: Session, notification: Notification, *, delivery_key: str) -> OutgoingMessage:
    """The notification as it goes out: the patient by ``patient_ref`` only, times in the clinic's zone."""
    pump = session.get(Pump, notification.pump_id)
    patient = session.get(Patient, pump.patient_id) if pump is not None and pump.patient_id is not None else None
    patient_ref = patient.patient_ref if patient is not None else None
    appointment = session.get(Appointment, notification.appointment_id) if notification.appointment_id else None
    clinic_id = appointment.clinic_id if appointment is not None else (pump.clinic_id if pump is not None else None)
    clinic = session.get(Clinic, clinic_id) if clinic_id is not None else None
    zone = ZoneInfo(clinic.timezone) if clinic is not None else ZoneInfo("UTC")
    who = f"patient {patient_ref}" if patient_ref else "a pump with no patient assigned"
    when = _local(appointment.starts_at, zone) if appointment is not None else "no date"
    where = f" at {clinic.name}" if clinic is not None else ""
    kind = notification.kind
    if kind == "reminder":
        what = f"{who} has a refill appointment on {when}{where}."
    elif kind == "overdue":
        what = f"the refill appointment of {who} on {when}{where} passed without a recorded refill."
    elif kind == "no_show":
        what = f"{who} missed a refill appointment; rebooked for {when}{where}."
    elif kind == "no_slot":
        what = f"no slot before the due date for {who}; booked {when}{where}."
    elif kind == "alarm_before_visit":
        alarm = _local(pump.alarm_at, zone) if pump is not None and pump.alarm_at is not None else "soon"
        what = f"the pump of {who} forecasts a low-reservoir alarm on {alarm}, before the appointment on {when}."
    elif kind == "battery":
        battery = notification.key.rsplit(":", 1)[-1]
        what = f"the pump battery of {who} is at {battery}; plan the replacement."
    else:
        what = f"{kind.replace('_', ' ')} for {who}" + (f", appointment {when}{where}." if appointment else ".")
    title = _TITLES.get(kind, kind.replace("_", " ").capitalize())
    level = notification.level.value
    notification_id = stored_id(notification, f"notification {notification.key}")
    subject = f"[pump-service] {'ESCALATION: ' if level == 'escalation' else ''}{title}: {who}"
    text = "\n".join(
        [
            what[0].upper() + what[1:],
            "",
            f"Notification {notification_id} ({level}, {kind}).",
            f"Acknowledge it in pump-service: pump-service notifications ack {notification_id}",
            "",
            "This message names the patient only by the clinic's pseudonymous reference.",
        ]
    )
    payload: dict[str, Any] = {
        "delivery_key": delivery_key,
        "notification_id": notification_id,
        "kind": kind,
        "level": level,
        "patient_ref": patient_ref,
        "clinic_id": clinic.clinic_id if clinic is not None else None,
        "appointment_id": notification.appointment_id,
        "appointment_starts_at": appointment.starts_at.isoformat() if appointment is not None else None,
        "trigger_at": notification.trigger_at.isoformat(),
        "created_at": notification.created_at.isoformat(),
        "subject": subject,
        "text": text,
    }
    return OutgoingMessage(
        delivery_key=delivery_key, kind=kind, level=level, subject=subject, text=text, payload=payload
    )


def delivery_page(session: Session, *, notification_id: int, request: PageRequest) -> Page[DeliveryView]:
    """A page of one notification's delivery log, newest first.

    Raises:
        NotFoundError: no notification ``notification_id``.
        RuleViolationError: a cursor of another list.
    """
    if session.get(Notification, notification_id) is None:
        raise NotFoundError(f"no notification {notification_id}")
    name = f"deliveries:{notification_id}"
    statement = select_page(
        select(NotificationDelivery).where(NotificationDelivery.notification_id == notification_id),
        (col(NotificationDelivery.id),),
        (int,),
        request=request,
        list_name=name,
        descending=True,
    )
    rows, cursor = rows_page(session.exec(statement).all(), key=lambda d: (d.id or 0,), request=request, list_name=name)
    return Page(items=[DeliveryView.model_validate(row) for row in rows], next_cursor=cursor)
