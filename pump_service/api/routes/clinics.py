"""Clinics: create, list, show and change them; their history, holidays, worklist and pumps."""

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from pump_service.api.auth import current_principal, require
from pump_service.api.deps import ActorDep, ClockDep, SessionDep, SettingsDep
from pump_service.api.pagination import PageDep
from pump_service.domain.access import Permission
from pump_service.services.paging import Page, page_of
from pump_service.services.scheduling.clinic_admin import (
    assign_pump,
    change_clinic,
    clinic_history_page,
    clinic_view,
    create_clinic,
)
from pump_service.services.scheduling.clinic_list import clinic_page
from pump_service.services.scheduling.clinics import default_clinic, get_clinic, list_holidays, remove_holiday
from pump_service.services.scheduling.contracts import (
    ClinicChangeResult,
    ClinicChanges,
    ClinicChangeView,
    ClinicEntry,
    ClinicView,
    HolidayView,
    PumpAssignment,
    WorklistItem,
)
from pump_service.services.scheduling.views import appointment_view
from pump_service.services.scheduling.worklist import worklist
from schemas.clock import IsoDate

router = APIRouter(tags=["clinics"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such clinic"}}


@router.post(
    "/clinics",
    dependencies=[Depends(require(Permission.MANAGE_CLINIC))],
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "clinic id taken"}},
)
def create(entry: ClinicEntry, session: SessionDep, clock: ClockDep, actor: ActorDep) -> ClinicView:
    """A new clinic with its working days, hours, slot length, capacity, zone and jurisdiction."""
    return clinic_view(session, create_clinic(session, entry, actor=actor, now=clock.now()))


@router.get("/clinics", dependencies=[Depends(current_principal)])
def read_clinics(session: SessionDep, settings: SettingsDep, clock: ClockDep, page: PageDep) -> Page[ClinicView]:
    """Every clinic by id, a page at a time (the default clinic from the settings is created on first use)."""
    default_clinic(session, settings, now=clock.now())
    return clinic_page(session, page)


@router.get("/clinics/{clinic_id}", dependencies=[Depends(current_principal)], responses=_NOT_FOUND)
def read_clinic(clinic_id: str, session: SessionDep) -> ClinicView:
    """One clinic: its settings and holidays."""
    return clinic_view(session, get_clinic(session, clinic_id))


@router.patch("/clinics/{clinic_id}", dependencies=[Depends(require(Permission.MANAGE_CLINIC))], responses=_NOT_FOUND)
def patch_clinic(
    clinic_id: str, changes: ClinicChanges, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> ClinicChangeResult:
    """Change a clinic; a change of hours or capacity moves the future bookings that no longer fit."""
    clinic, moved = change_clinic(session, clinic_id, changes, actor=actor, now=clock.now())
    return ClinicChangeResult(clinic=clinic_view(session, clinic), moved=[appointment_view(session, m) for m in moved])


@router.get("/clinics/{clinic_id}/history", dependencies=[Depends(current_principal)], responses=_NOT_FOUND)
def read_history(clinic_id: str, session: SessionDep, page: PageDep) -> Page[ClinicChangeView]:
    """Every change of the clinic, oldest first: who, from which station, when, before and after."""
    return clinic_history_page(session, get_clinic(session, clinic_id), page)


@router.get("/clinics/{clinic_id}/holidays", dependencies=[Depends(current_principal)], responses=_NOT_FOUND)
def read_holidays(clinic_id: str, session: SessionDep, page: PageDep) -> Page[HolidayView]:
    """The clinic's holidays in day order, a page at a time."""
    holidays = [HolidayView.model_validate(h) for h in list_holidays(session, get_clinic(session, clinic_id))]
    return page_of(holidays, key=lambda h: (h.day,), kinds=(date,), request=page, list_name=f"holidays:{clinic_id}")


@router.delete(
    "/clinics/{clinic_id}/holidays/{day}",
    dependencies=[Depends(require(Permission.MANAGE_CLINIC))],
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such clinic or holiday"}},
)
def delete_holiday(clinic_id: str, day: IsoDate, session: SessionDep, clock: ClockDep, actor: ActorDep) -> Response:
    """Open the clinic again on a day; bookings moved away from it stay where they are."""
    remove_holiday(session, get_clinic(session, clinic_id), day, actor=actor, now=clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/clinics/{clinic_id}/worklist", dependencies=[Depends(require(Permission.READ_CLINICAL))], responses=_NOT_FOUND
)
def read_worklist(
    clinic_id: str,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    page: PageDep,
    days: Annotated[int, Query(ge=1, le=366, description="how far back to look")] = 30,
) -> Page[WorklistItem]:
    """Overdue visits and no-shows not refilled since, oldest first, a page at a time."""
    grace = timedelta(hours=settings.overdue_grace_hours)
    items = worklist(session, get_clinic(session, clinic_id), now=clock.now(), grace=grace, days=days)
    return page_of(
        items,
        key=lambda w: (w.starts_at, w.appointment_id, w.kind.value),
        kinds=(datetime, int, str),
        request=page,
        list_name=f"worklist:{clinic_id}",
    )


@router.put(
    "/clinics/{clinic_id}/pumps/{serial}",
    dependencies=[Depends(require(Permission.MANAGE_SCHEDULE))],
    responses={404: {"description": "no such clinic or pump"}, 409: {"description": "the pump is explanted"}},
)
def put_pump(clinic_id: str, serial: str, session: SessionDep, clock: ClockDep, actor: ActorDep) -> PumpAssignment:
    """The pump is looked after by this clinic from now on; its booking moves there."""
    clinic = get_clinic(session, clinic_id)
    booked = assign_pump(session, serial, clinic, actor=actor, now=clock.now())
    return PumpAssignment(
        pump_serial=serial,
        clinic_id=clinic.clinic_id,
        appointment=appointment_view(session, booked) if booked else None,
    )
