"""``/``: each role's home page (or the login page); ``/clinic-settings``: the station's clinic's settings."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from pump_service.api.auth import Principal, principal_of, require_page
from pump_service.api.deps import SessionDep
from pump_service.domain.access import Permission
from pump_service.errors import AuthenticationError
from pump_service.services.accounts.stations import station_of
from pump_service.web.navigation import home_of

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    try:
        principal = await principal_of(request)
    except AuthenticationError:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_of(principal), status_code=303)


@router.get("/clinic-settings")
def own_clinic_settings(
    principal: Annotated[Principal, Depends(require_page(Permission.MANAGE_CLINIC))], session: SessionDep
) -> RedirectResponse:
    clinic_id = station_of(session, principal.station_id).clinic_id
    return RedirectResponse(f"/clinics/{clinic_id}/settings", status_code=303)
