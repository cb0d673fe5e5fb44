"""What clinic staff read about the schedule: the days ahead, an iCalendar feed, the notifications."""

from datetime import date, datetime, timedelta

from icalendar import Calendar, Event
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from pump_service.persistence.models import Pump
from pump_service.persistence.rows import clinic_id_of, get_stored, stored_id
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic, Notification
from pump_service.services.paging import Page, PageRequest, rows_page, select_page
from pump_service.services.scheduling.booking import schedule_between
from pump_service.services.scheduling.clinics import calendar_of
from schemas.clock import UtcDatetime

__all__ = [
    "AppointmentView",
    "NotificationView",
    "appointment_page",
    "appointment_view",
    "appointment_views",
    "notification_view",
    "schedule_ical",
]


# the statuses the schedule shows (those of booking.schedule_between): cancelled ones are left out
SHOWN_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)


class AppointmentView(BaseModel):
    model_config = ConfigDict(frozen=True)

    appointment_id: int
    pump_serial: str
    clinic_id: str
    local_day: date
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    status: str
    on_time: bool
    target_at: UtcDatetime
    latest_at: UtcDatetime | None
    due_reason: str


class NotificationView(BaseModel):
    model_config = ConfigDict(frozen=True)

    notification_id: int
    key: str
    kind: str
    level: str
    pump_serial: str
    appointment_id: int | None
    trigger_at: UtcDatetime
    created_at: UtcDatetime
    status: str
    message: str


def _serials(session: Session, pump_ids: set[int]) -> dict[int, str]:
    if not pump_ids:
        return {}
    rows = session.exec(select(Pump).where(col(Pump.id).in_(pump_ids))).all()
    return {p.id: p.serial for p in rows if p.id is not None}


def appointment_views(session: Session, clinic: Clinic, first_day: date, days: int) -> list[AppointmentView]:
    """The clinic's appointments from ``first_day`` (local) for ``days`` days."""
    rows = schedule_between(session, clinic, first_day, days)
    serials = _serials(session, {r.pump_id for r in rows})
    return [_view(r, serials[r.pump_id], clinic) for r in rows]


def appointment_page(
    session: Session, clinic: Clinic, first_day: date, days: int, request: PageRequest
) -> Page[AppointmentView]:
    """A page of the clinic's appointments from ``first_day`` (local) for ``days`` days, by ``(starts_at, id)``.

    The same appointments as :func:`appointment_views`, but only the page's rows are read.

    Raises:
        RuleViolationError: a cursor of another list.
    """
    name = f"schedule:{clinic.clinic_id}"
    window = select(Appointment).where(
        Appointment.clinic_id == clinic_id_of(clinic),
        col(Appointment.local_day) >= first_day,
        col(Appointment.local_day) < first_day + timedelta(days=days),
        col(Appointment.status).in_(SHOWN_STATUSES),
    )
    statement = select_page(
        window, (col(Appointment.starts_at), col(Appointment.id)), (datetime, int), request=request, list_name=name
    )
    rows, cursor = rows_page(
        session.exec(statement).all(), key=lambda a: (a.starts_at, a.id or 0), request=request, list_name=name
    )
    serials = _serials(session, {r.pump_id for r in rows})
    return Page(items=[_view(r, serials[r.pump_id], clinic) for r in rows], next_cursor=cursor)


def _view(row: Appointment, serial: str, clinic: Clinic) -> AppointmentView:
    return AppointmentView(
        appointment_id=stored_id(row, "appointment"),
        pump_serial=serial,
        clinic_id=clinic.clinic_id,
        local_day=row.local_day,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        status=row.status,
        on_time=row.on_time,
        target_at=row.target_at,
        latest_at=row.latest_at,
        due_reason=row.due_reason,
    )


def appointment_view(session: Session, row: Appointment) -> AppointmentView:
    """One appointment as staff see it."""
    clinic = get_stored(session, Clinic, row.clinic_id, referenced_by=f"appointment {row.id}")
    return _view(row, _serials(session, {row.pump_id})[row.pump_id], clinic)


def notification_view(session: Session, row: Notification) -> NotificationView:
    return NotificationView(
        notification_id=stored_id(row, f"notification {row.key}"),
        key=row.key,
        kind=row.kind,
        level=row.level,
        pump_serial=_serials(session, {row.pump_id})[row.pump_id],
        appointment_id=row.appointment_id,
        trigger_at=row.trigger_at,
        created_at=row.created_at,
        status=row.status,
        message=row.message,
    )


def schedule_ical(session: Session, clinic: Clinic, *, now: datetime, days: int = 60) -> bytes:
    """The clinic's booked appointments as an iCalendar feed (times in the clinic's zone; no patient data)."""
    calendar = calendar_of(session, clinic)
    first_day = calendar.local_day(now) - timedelta(days=1)
    feed = Calendar()
    feed.add("prodid", "-//pump-service//refill appointments//EN")
    feed.add("version", "2.0")
    feed.add("x-wr-calname", f"{clinic.name} refills")
    for view in appointment_views(session, clinic, first_day, days + 1):
        if view.status != AppointmentStatus.BOOKED:
            continue
        event = Event()
        event.add("uid", f"appointment-{view.appointment_id}@pump-service")
        event.add("dtstamp", now)
        event.add("dtstart", view.starts_at.astimezone(calendar.zone))
        event.add("dtend", view.ends_at.astimezone(calendar.zone))
        event.add("summary", f"Pump refill {view.pump_serial}")
        late = "" if view.on_time else " LATE BOOKING: no slot before the due date"
        event.add("description", f"due {view.target_at.isoformat()} ({view.due_reason}){late}")
        feed.add_component(event)
    feed.add_missing_timezones()
    return bytes(feed.to_ical())
