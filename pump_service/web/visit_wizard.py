"""The visit wizard: the refill form a nurse works through at the station, and the page that ends it.

``/visits/new?pump=SERIAL`` shows the previous visit's findings, interrogates a programmable pump
through the station's own programmer, and holds the live refill form; its script
(``static/wizard.js``) calls the API the form needs (``/gs1/parse``, ``/pumps/{serial}/visits``,
``/refills/plan``, ``/cosignatures``, ``/refills``) with the session's CSRF token. The form is
loaded with the pump's version and an idempotency key: a double click or a retry records once,
and a pump changed since the form was loaded is a conflict. ``/visits/refills/{refill_id}`` shows
what was recorded: the next appointment, the charges and the links to the record and the pump.
"""

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from pump_service.api.auth import Principal, require_page
from pump_service.domain.access import Permission
from pump_service.domain.second_check import SPINAL_ROUTES
from pump_service.errors import NotFoundError
from pump_service.persistence import repositories as repo
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Refill
from pump_service.services.accounts import station_of
from pump_service.services.contracts import RefillResult
from pump_service.services.pumps.registry import get_pump, show_pump
from pump_service.services.pumps.state import pump_id_of
from pump_service.services.visits.refill_views import refill_result
from pump_service.settings import Settings
from pump_service.web.templating import render
from schemas.drug import AmountBasis
from schemas.drug_catalogue import DRUGS
from schemas.pump import DeliveryRoute, PumpFamily

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

RecordingNurse = Annotated[Principal, Depends(require_page(Permission.RECORD_VISIT))]
_SERIAL = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def _nav() -> list[dict[str, str]]:
    return [{"href": "/", "label": "Worklist"}]


def _previous(session: Session, pump_id: int) -> RefillResult | None:
    refills = repo.refills_of(session, pump_id)
    return refill_result(session, refills[0]) if refills else None


def _rate_text(session: Session, pump_id: int) -> str | None:
    rx = repo.current_prescription(session, pump_id)
    if rx is None:
        return None
    if rx.mode == "continuous" and rx.rate_ml_per_day is not None:
        return f"continuous {rx.rate_ml_per_day:g} mL/day"
    return f"{rx.mode}, {rx.daily_volume_ml:g} mL/day"


def _drugs_for(route: DeliveryRoute) -> list[dict[str, Any]]:
    """The catalogue's drugs for this route, with the unit their concentration is entered in."""
    return [
        {"id": d.drug_id, "name": d.name, "unit": d.concentration_unit, "strengths": list(d.stock_concentrations)}
        for d in sorted(DRUGS.values(), key=lambda d: d.name)
        if d.amount_basis is not AmountBasis.VEHICLE and route in d.routes
    ]


def _vehicles_for(route: DeliveryRoute) -> list[dict[str, str]]:
    """Diluents that make up the rest of a fill mixed from a stronger stock."""
    return [
        {"id": d.drug_id, "name": d.name}
        for d in sorted(DRUGS.values(), key=lambda d: d.name)
        if d.amount_basis is AmountBasis.VEHICLE and route in d.routes
    ]


@router.get("/visits/new", response_class=HTMLResponse)
def new_visit(
    request: Request, principal: RecordingNurse, pump: Annotated[str, Query(pattern=_SERIAL)]
) -> HTMLResponse:
    """The wizard for one pump's refill visit."""
    settings: Settings = request.app.state.settings
    now = request.app.state.clock.now()
    with transaction(request.app.state.engine) as session:
        view = show_pump(session, pump, now=now)
        row = get_pump(session, pump)
        pump_id = pump_id_of(row)
        previous = _previous(session, pump_id)
        rate = _rate_text(session, pump_id)
        station = station_of(session, principal.station_id)
    route = DeliveryRoute(view.route)
    old_component = (
        next((c for c in previous.components if c.conc_mg_per_ml or c.conc_usp_u_per_ml), None) if previous else None
    )
    old = {
        "reservoir_ml": view.estimated_reservoir_ml if view.estimated_reservoir_ml is not None else view.reservoir_ml,
        "drug": old_component.drug_name if old_component else None,
        "concentration": (old_component.conc_mg_per_ml or old_component.conc_usp_u_per_ml) if old_component else None,
        "unit": ("mg/mL" if old_component.conc_mg_per_ml else "USP_U/mL") if old_component else "",
        "rate": rate or (f"{view.planning_rate_ml_per_day:g} mL/day" if view.planning_rate_ml_per_day else None),
    }
    context = {
        "title": f"Refill visit · {view.serial}",
        "nav_links": _nav(),
        "pump": view,
        "previous": previous,
        "old": old,
        "programmable": view.family == PumpFamily.PROGRAMMABLE.value,
        "spinal": route in SPINAL_ROUTES,
        "drugs": _drugs_for(route),
        "vehicles": _vehicles_for(route),
        "station": station,
        # A physician at the station overrides in their own name; anyone else asks one to co-sign.
        "own_override": principal.may(Permission.OVERRIDE_HARD_STOP),
        "form": {
            "serial": view.serial,
            "version": view.version,
            "idempotency_key": f"wiz-{secrets.token_urlsafe(24)}",
            "performed_at": now.isoformat(),
            "zone": settings.clinic_tz,
        },
    }
    return render(request, "visit_new.html", context)


@router.get("/visits/refills/{refill_id}", response_class=HTMLResponse)
def visit_done(request: Request, principal: RecordingNurse, refill_id: int) -> HTMLResponse:
    """What the visit recorded: next appointment, charges, the PDF record and the pump page."""
    settings: Settings = request.app.state.settings
    with transaction(request.app.state.engine) as session:
        refill = session.get(Refill, refill_id) if 0 < refill_id < 2**62 else None
        if refill is None:
            raise NotFoundError(f"no refill {refill_id}")
        result = refill_result(session, refill)
    context = {
        "title": f"Refill recorded · {result.pump_serial}",
        "nav_links": _nav(),
        "result": result,
        "zone": settings.zone,
    }
    return render(request, "visit_result.html", context)
