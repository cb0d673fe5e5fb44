"""``/``: each role's home page; ``/clinic-settings``: the station's own clinic's settings."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from pump_service.api.auth import CurrentPrincipal
from pump_service.api.deps import SettingsDep
from pump_service.web.navigation import home_of

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(principal: CurrentPrincipal) -> RedirectResponse:
    return RedirectResponse(home_of(principal), status_code=303)


@router.get("/clinic-settings")
def own_clinic_settings(principal: CurrentPrincipal, settings: SettingsDep) -> RedirectResponse:
    return RedirectResponse(f"/clinics/{settings.clinic_id}/settings", status_code=303)
