"""Billing views: today's batch per clinic, one daily batch, a visit's charges; voiding and sending (forms).

Reading needs ``READ_BILLING``; the forms (void a charge, send the due charges to the billing
system now) are shown, and accepted, only with ``MANAGE_CHARGES`` (the server refuses them
whatever the page showed). They go through the same use cases as the API, the CLI and the scheduler.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pump_service.api.auth import Principal, require_page
from pump_service.api.deps import ClockDep, SessionDep, SettingsDep
from pump_service.domain.access import Permission
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.charge_models import DeliveryState
from pump_service.services.charges import charge_batch, dispatch_pending, list_charge_page, list_charges, void_charge
from pump_service.services.charges.contracts import MAX_PAGE_LIMIT, ChargeQuery
from pump_service.services.charges.dispatch import charge_destination
from pump_service.services.scheduling.clinic_admin import list_clinics
from pump_service.services.scheduling.clinics import calendar_of
from pump_service.web.navigation import error_page, page
from schemas.clock import IsoDate

router = APIRouter(include_in_schema=False)

Billing = Annotated[Principal, Depends(require_page(Permission.READ_BILLING))]
ChargeManager = Annotated[Principal, Depends(require_page(Permission.MANAGE_CHARGES))]


_OUTCOMES = ("delivered", "retry", "rejected", "skipped")


def _sent_message(query: str | None) -> list[dict[str, str]]:
    """The message of a send just done (counts only, from the redirect's query)."""
    if query is None:
        return []
    counts = dict(part.partition(":")[::2] for part in query.split(",") if part)
    shown = [f"{name} {int(counts[name])}" for name in _OUTCOMES if counts.get(name, "").isdigit()]
    return [{"level": "ok", "text": f"Sent to the billing system: {', '.join(shown) or 'nothing was due'}."}]


@router.get("/billing", response_class=HTMLResponse)
def billing_page(
    request: Request,
    principal: Billing,
    session: SessionDep,
    clock: ClockDep,
    sent: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """Today's batch (clinic-local) of every clinic."""
    now = clock.now()
    batches = [
        charge_batch(session, clinic=c.clinic_id, service_date=calendar_of(session, c).local_day(now))
        for c in list_clinics(session)
    ]
    return page(
        request,
        "billing.html",
        {
            "title": "Billing",
            "batches": batches,
            "pending": len(list_charges(session, ChargeQuery(delivery=DeliveryState.PENDING, limit=MAX_PAGE_LIMIT))),
            "can_send": principal.may(Permission.MANAGE_CHARGES),
            "messages": _sent_message(sent),
        },
    )


@router.post("/billing/send", response_model=None)
def send_due_charges(
    request: Request, principal: ChargeManager, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    """Deliver the charges due now (new ones and retries) to the configured billing system, as a tick would."""
    destination = charge_destination(settings)
    if destination is None:
        return error_page(
            request, 409, "No billing system configured",
            "Set PUMP_CHARGE_DESTINATION_URL or PUMP_CHARGE_DROP_FOLDER; nothing was sent.",
        )  # fmt: skip
    report = dispatch_pending(session, destination, now=clock.now())
    counts = ",".join(f"{name}:{n}" for name, n in sorted(report.counts.items()))
    return RedirectResponse(f"/billing?sent={counts}", status_code=303)


@router.get("/billing/batches/{clinic_id}/{service_date}", response_class=HTMLResponse)
def batch_page(
    request: Request,
    clinic_id: str,
    service_date: IsoDate,
    principal: Billing,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    try:
        batch = charge_batch(session, clinic=clinic_id, service_date=service_date, cursor=cursor)
    except NotFoundError as exc:
        return error_page(request, 404, "Unknown clinic", str(exc))
    except RuleViolationError as exc:
        return error_page(request, 422, "Bad page", str(exc))
    return page(
        request,
        "batch.html",
        {
            "title": f"Batch {clinic_id} {service_date.isoformat()}",
            "batch": batch,
            "back": request.url.path,
            "can_void": principal.may(Permission.MANAGE_CHARGES),
        },
    )


@router.get("/visits/{visit_key}/charges", response_class=HTMLResponse)
def visit_charges_page(request: Request, visit_key: str, principal: Billing, session: SessionDep) -> HTMLResponse:
    if len(visit_key) > 80:
        return error_page(request, 404, "Unknown visit", "no visit with that key")
    charges = list_charge_page(session, ChargeQuery(visit_key=visit_key, limit=MAX_PAGE_LIMIT)).items
    if not charges:
        return error_page(request, 404, "No charges", f"no charges are recorded for visit {visit_key}")
    return page(
        request,
        "visit_charges.html",
        {
            "title": f"Charges of visit {visit_key}",
            "visit_key": visit_key,
            "charges": charges,
            "back": request.url.path,
            "can_void": principal.may(Permission.MANAGE_CHARGES),
        },
    )


@router.post("/billing/charges/{event_id}/void", response_model=None)
def void_charge_form(
    request: Request,
    event_id: str,
    principal: ChargeManager,
    session: SessionDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=200)] = "",
    back: Annotated[str, Form(max_length=300)] = "/billing",
) -> Response:
    """Void (or credit) a charge; back to the page the form was on."""
    if not back.startswith("/") or back.startswith("//"):
        back = "/billing"
    try:
        with session.begin_nested():
            void_charge(session, event_id, reason=reason.strip(), actor=principal.actor(), now=clock.now())
    except NotFoundError as exc:
        return error_page(request, 404, "Unknown charge", str(exc))
    except ConflictError as exc:
        return error_page(request, 409, "Already corrected", str(exc))
    except RuleViolationError as exc:
        return error_page(request, 422, "Not voided", str(exc))
    return RedirectResponse(back, status_code=303)
