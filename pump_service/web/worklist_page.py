"""``/worklist``: a clinic's day: appointments, overdue pumps, open escalations, each pump's drug and last result."""

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from pump_service.api.auth import Principal, require_page
from pump_service.api.deps import ClockDep, SessionDep, SettingsDep
from pump_service.domain.access import Permission
from pump_service.errors import NotFoundError
from pump_service.services.accounts.stations import station_of
from pump_service.services.scheduling.clinic_admin import list_clinics
from pump_service.services.scheduling.clinics import calendar_of, get_clinic
from pump_service.services.scheduling.day_sheet import day_sheet
from pump_service.web.formatting import local_time
from pump_service.web.navigation import error_page, page
from schemas.clock import IsoDate

router = APIRouter(include_in_schema=False)

Clinical = Annotated[Principal, Depends(require_page(Permission.READ_CLINICAL))]


@router.get("/worklist", response_class=HTMLResponse)
def worklist_page(
    request: Request,
    principal: Clinical,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    clinic: Annotated[str | None, Query(max_length=32)] = None,
    day: Annotated[IsoDate | None, Query()] = None,  # 9999-12-31 would overflow the day's end
) -> HTMLResponse:
    now = clock.now()
    try:
        chosen = get_clinic(session, clinic or station_of(session, principal.station_id).clinic_id)
    except NotFoundError as exc:
        return error_page(request, 404, "Unknown clinic", str(exc))
    local_day = day or calendar_of(session, chosen).local_day(now)
    sheet = day_sheet(session, chosen, local_day, settings=settings, now=now)
    return page(
        request,
        "worklist.html",
        {
            "title": f"Worklist {sheet.clinic_name}",
            "sheet": sheet,
            "local": local_time(ZoneInfo(sheet.timezone)),
            "clinics": list_clinics(session),
            "can_record": principal.may(Permission.RECORD_VISIT),
        },
    )
