"""The clinic schedule, its iCalendar feed, cancellations and no-shows, holidays, notifications."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from pump_service.api.auth import require
from pump_service.api.deps import ActorDep, ClockDep, SessionDep, SettingsDep
from pump_service.api.pagination import PageDep
from pump_service.api.params import RowId
from pump_service.domain.access import Permission
from pump_service.services.paging import Page
from pump_service.services.scheduling.booking import cancel_appointment, rebook_closed_day
from pump_service.services.scheduling.clinics import add_holiday, calendar_of, default_clinic, get_clinic
from pump_service.services.scheduling.delivery import DeliveryView, delivery_page
from pump_service.services.scheduling.notifications import acknowledge, notification_page
from pump_service.services.scheduling.views import (
    AppointmentView,
    NotificationView,
    appointment_page,
    appointment_view,
    notification_view,
    schedule_ical,
)
from schemas.clock import IsoDate

router = APIRouter(tags=["schedule"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such clinic, appointment or notification"}}


class CancelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200)
    no_show: bool = False
    patient_request: bool = Field(False, description="the patient asked: rebooked on another day")


class HolidayEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: IsoDate
    name: str = Field(min_length=1, max_length=100)


@router.get("/schedule", dependencies=[Depends(require(Permission.READ_CLINICAL))], responses=_NOT_FOUND)
def read_schedule(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    page: PageDep,
    days: Annotated[int, Query(ge=1, le=366)] = 14,
    clinic: Annotated[str | None, Query(description="clinic id; the default clinic if omitted")] = None,
) -> Page[AppointmentView]:
    """Appointments from today (clinic time) for ``days`` days, in time order, a page at a time."""
    now = clock.now()
    row = get_clinic(session, clinic) if clinic else default_clinic(session, settings, now=now)
    return appointment_page(session, row, calendar_of(session, row).local_day(now), days, page)


@router.get(
    "/schedule.ics",
    dependencies=[Depends(require(Permission.READ_CLINICAL))],
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **_NOT_FOUND},
)
def read_schedule_ical(
    session: SessionDep, settings: SettingsDep, clock: ClockDep, clinic: str | None = None
) -> Response:
    """The booked appointments as an iCalendar feed for calendar clients."""
    now = clock.now()
    row = get_clinic(session, clinic) if clinic else default_clinic(session, settings, now=now)
    return Response(schedule_ical(session, row, now=now), media_type="text/calendar")


@router.post(
    "/appointments/{appointment_id}/cancel",
    dependencies=[Depends(require(Permission.MANAGE_SCHEDULE))],
    responses={**_NOT_FOUND, 409: {"description": "the appointment is not booked, or a no-show before it started"}},
)
def cancel(
    appointment_id: RowId, entry: CancelEntry, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> AppointmentView:
    """Cancel an appointment (or record a no-show once it has started, which escalates); returns the new booking."""
    new = cancel_appointment(
        session,
        appointment_id,
        no_show=entry.no_show,
        reason=entry.reason,
        actor=actor,
        now=clock.now(),
        patient_request=entry.patient_request,
    )
    return appointment_view(session, new)


@router.post(
    "/clinics/{clinic_id}/holidays",
    dependencies=[Depends(require(Permission.MANAGE_CLINIC))],
    status_code=201,
    responses={
        **_NOT_FOUND,
        409: {"description": "already a holiday"},
        422: {"description": "in the past, beyond the calendar's range, or not a working day"},
    },
)
def create_holiday(
    clinic_id: str, entry: HolidayEntry, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> list[AppointmentView]:
    """Close the clinic on a day; the appointments booked then are moved (and returned)."""
    clinic = get_clinic(session, clinic_id)
    add_holiday(session, clinic, entry.day, entry.name, actor=actor, now=clock.now())
    return [
        appointment_view(session, m)
        for m in rebook_closed_day(session, clinic, entry.day, actor=actor, now=clock.now())
    ]


@router.get("/notifications", dependencies=[Depends(require(Permission.READ_CLINICAL))])
def read_notifications(session: SessionDep, page: PageDep, open_only: bool = True) -> Page[NotificationView]:
    """Reminders and escalations, newest first, a page at a time."""
    rows, cursor = notification_page(session, open_only=open_only, request=page)
    return Page(items=[notification_view(session, n) for n in rows], next_cursor=cursor)


@router.post(
    "/notifications/{notification_id}/ack",
    dependencies=[Depends(require(Permission.MANAGE_SCHEDULE))],
    responses={**_NOT_FOUND, 409: {"description": "not open"}},
)
def ack_notification(notification_id: RowId, session: SessionDep, clock: ClockDep, actor: ActorDep) -> NotificationView:
    """Mark a reminder or escalation as handled."""
    return notification_view(session, acknowledge(session, notification_id, actor=actor, now=clock.now()))


@router.get(
    "/notifications/{notification_id}/deliveries",
    dependencies=[Depends(require(Permission.READ_CLINICAL))],
    responses=_NOT_FOUND,
)
def read_notification_deliveries(notification_id: RowId, session: SessionDep, page: PageDep) -> Page[DeliveryView]:
    """The delivery log of one notification, newest first: one line per channel, with attempts and the last error."""
    return delivery_page(session, notification_id=notification_id, request=page)
