"""``/pumps`` and ``/pumps/{serial}`` for browsers: the pump list and a pump's page with its chart.

These paths are also the API's (JSON): the routes here answer only requests that ask for HTML
(:class:`~pump_service.web.html_route.HtmlPageRoute`) and must be included before the API's routers.
"""

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from pump_service.api.auth import Principal, require_page
from pump_service.api.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from pump_service.api.pagination import PageDep
from pump_service.domain.access import Permission
from pump_service.errors import NotFoundError, RuleViolationError
from pump_service.services.pumps.history import pump_history
from pump_service.services.pumps.registry import get_pump, pump_view_page
from pump_service.services.scheduling.clinics import pump_zone
from pump_service.web.charts import pump_chart_svg
from pump_service.web.formatting import local_time
from pump_service.web.html_route import HtmlPageRoute
from pump_service.web.navigation import error_page, page

router = APIRouter(include_in_schema=False, route_class=HtmlPageRoute)

Clinical = Annotated[Principal, Depends(require_page(Permission.READ_CLINICAL))]


@router.get("/pumps", response_class=HTMLResponse)
def pumps_page(
    request: Request, principal: Clinical, session: ReadSessionDep, clock: ClockDep, listing: PageDep
) -> HTMLResponse:
    """A page of the pump list (``limit`` and ``cursor`` as in the API), with a link to the next one."""
    try:
        shown = pump_view_page(session, listing, now=clock.now())
    except RuleViolationError as exc:
        return error_page(request, 422, "Not a page of this list", str(exc))
    return page(
        request,
        "pumps.html",
        {"title": "Pumps", "pumps": shown.items, "next_cursor": shown.next_cursor, "limit": listing.limit},
    )


@router.get("/pumps/{serial}", response_class=HTMLResponse)
def pump_page(
    request: Request,
    serial: str,
    principal: Clinical,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    log_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    try:
        history = pump_history(session, serial, now=clock.now(), log_page=log_page)
    except NotFoundError as exc:
        return error_page(request, 404, "Unknown pump", str(exc))
    zone: ZoneInfo = pump_zone(session, get_pump(session, serial, include_explanted=True), settings)
    chart = pump_chart_svg(history.series, zone=zone, title=f"Pump {serial}: reservoir volume and flow")
    return page(
        request,
        "pump.html",
        {
            "title": f"Pump {serial}",
            "h": history,
            "p": history.pump,
            "local": local_time(zone),
            "chart": chart,
            "can_record": principal.may(Permission.RECORD_VISIT),
        },
    )
