"""``/clinics/{clinic_id}/settings``: a manager's page for the calendar, holidays, reminders and billing set-up.

Every form carries the fingerprint of the settings it was loaded with. A form posted after the
settings changed (another manager, another station) is refused with a conflict page (409) and
nothing is written; invalid values re-render the form with the errors by field (422), nothing
written. Writes go through the same use cases as the API, inside a savepoint so a refusal leaves
no trace.
"""

import hashlib
import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from pump_service.api.auth import Principal, require_page
from pump_service.api.deps import ClockDep, SessionDep
from pump_service.domain.access import Permission
from pump_service.domain.jurisdictions import MAC_JURISDICTIONS
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.schedule_models import Clinic
from pump_service.services.charges import clinic_billing_history, set_clinic_billing
from pump_service.services.charges.contracts import ClinicBillingEntry
from pump_service.services.scheduling.clinic_admin import change_clinic, clinic_view, close_day
from pump_service.services.scheduling.clinics import get_clinic, list_holidays, remove_holiday, settings_of
from pump_service.services.scheduling.contracts import ClinicChanges
from pump_service.web.navigation import error_page, page
from schemas.clock import IsoDate

router = APIRouter(include_in_schema=False)

Manager = Annotated[Principal, Depends(require_page(Permission.MANAGE_CLINIC))]
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_STALE = (
    "The clinic's settings changed after this form was loaded (by someone else, or in another tab). "
    "Nothing was saved. Reload the settings page to see the current values and make the change again."
)


def fingerprint(session: Session, clinic: Clinic) -> str:
    """What the page was loaded with: the settings, the holidays and the billing set-up's version."""
    state = {
        "settings": settings_of(clinic),
        "holidays": [(h.day.isoformat(), h.name) for h in list_holidays(session, clinic)],
        "billing": [v.version for v in clinic_billing_history(session, clinic.clinic_id)],
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32]


def _form_values(clinic: Clinic) -> dict[str, Any]:
    values = settings_of(clinic)
    return {
        **values,
        "working_days": [int(d) for d in values["working_days"]],
        "reminder_days": ", ".join(str(d) for d in values["reminder_days"]),
        "jurisdiction": values["jurisdiction"] or "",
    }


def _render(
    request: Request,
    session: Session,
    clinic: Clinic,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    billing_errors: dict[str, str] | None = None,
    holiday_errors: dict[str, str] | None = None,
    messages: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "clinic_settings.html",
        {
            "title": f"Settings of {clinic.name}",
            "clinic": clinic_view(session, clinic),
            "values": values or _form_values(clinic),
            "errors": errors or {},
            "billing_errors": billing_errors or {},
            "holiday_errors": holiday_errors or {},
            "billing": clinic_billing_history(session, clinic.clinic_id),
            "weekdays": list(enumerate(_WEEKDAYS)),
            "jurisdictions": MAC_JURISDICTIONS,
            "loaded": fingerprint(session, clinic),
            "messages": messages or [],
        },
        status_code=status_code,
    )


def _clinic_or_404(request: Request, session: Session, clinic_id: str) -> Clinic | HTMLResponse:
    try:
        return get_clinic(session, clinic_id)
    except NotFoundError as exc:
        return error_page(request, 404, "Unknown clinic", str(exc))


def _unchanged_clinic(request: Request, session: Session, clinic_id: str, loaded: str) -> Clinic | HTMLResponse:
    """The clinic a form posts to, or the page saying why not: unknown (404) or changed since loaded (409)."""
    clinic = _clinic_or_404(request, session, clinic_id)
    if isinstance(clinic, HTMLResponse):
        return clinic
    if loaded != fingerprint(session, clinic):
        return error_page(request, 409, "The settings changed meanwhile", _STALE)
    return clinic


def _errors_of(exc: ValidationError) -> dict[str, str]:
    return {str(e["loc"][0]) if e["loc"] else "form": e["msg"].removeprefix("Value error, ") for e in exc.errors()}


def _numbers(text: str, field: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError as exc:
        raise RuleViolationError("whole numbers of days, separated by commas", field=field) from exc


def _integer(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError as exc:
        raise RuleViolationError("a whole number", field=field) from exc


@router.get("/clinics/{clinic_id}/settings", response_class=HTMLResponse)
def settings_page(request: Request, clinic_id: str, principal: Manager, session: SessionDep) -> HTMLResponse:
    clinic = _clinic_or_404(request, session, clinic_id)
    if isinstance(clinic, HTMLResponse):
        return clinic
    saved = request.query_params.get("saved")
    messages = [{"level": "ok", "text": f"Saved: {saved}."}] if saved in {"calendar", "holiday", "billing"} else []
    return _render(request, session, clinic, messages=messages)


@router.post("/clinics/{clinic_id}/settings", response_model=None)
def save_settings(
    request: Request,
    clinic_id: str,
    principal: Manager,
    session: SessionDep,
    clock: ClockDep,
    loaded: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=200)] = "",
    timezone: Annotated[str, Form(max_length=100)] = "",
    working_days: Annotated[list[str] | None, Form()] = None,
    opens_at: Annotated[str, Form(max_length=10)] = "",
    closes_at: Annotated[str, Form(max_length=10)] = "",
    slot_minutes: Annotated[str, Form(max_length=10)] = "",
    capacity_per_day: Annotated[str, Form(max_length=10)] = "",
    reminder_days: Annotated[str, Form(max_length=200)] = "",
    jurisdiction: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Change the calendar, reminders and jurisdiction; a stale form is a conflict, bad values a 422."""
    clinic = _unchanged_clinic(request, session, clinic_id, loaded)
    if isinstance(clinic, HTMLResponse):
        return clinic
    submitted: dict[str, Any] = {
        "name": name,
        "timezone": timezone,
        "working_days": [int(d) for d in working_days or [] if d.isdigit()],
        "opens_at": opens_at,
        "closes_at": closes_at,
        "slot_minutes": slot_minutes,
        "capacity_per_day": capacity_per_day,
        "reminder_days": reminder_days,
        "jurisdiction": jurisdiction,
    }
    try:
        changes = ClinicChanges.model_validate(
            {
                "name": name.strip(),
                "timezone": timezone.strip(),
                "working_days": [_integer(d, "working_days") for d in working_days or []],
                "opens_at": opens_at.strip(),
                "closes_at": closes_at.strip(),
                "slot_minutes": _integer(slot_minutes, "slot_minutes"),
                "capacity_per_day": _integer(capacity_per_day, "capacity_per_day"),
                "reminder_days": _numbers(reminder_days, "reminder_days"),
                "jurisdiction": jurisdiction.strip() or None,
            }
        )
        with session.begin_nested():
            change_clinic(session, clinic_id, changes, actor=principal.actor(), now=clock.now())
    except ValidationError as exc:
        return _render(request, session, clinic, values=submitted, errors=_errors_of(exc), status_code=422)
    except RuleViolationError as exc:
        session.refresh(clinic)
        errors = {exc.field or "form": str(exc)}
        return _render(request, session, clinic, values=submitted, errors=errors, status_code=422)
    return RedirectResponse(f"/clinics/{clinic_id}/settings?saved=calendar", status_code=303)


@router.post("/clinics/{clinic_id}/settings/holidays", response_model=None)
def add_closure(
    request: Request,
    clinic_id: str,
    principal: Manager,
    session: SessionDep,
    clock: ClockDep,
    loaded: Annotated[str, Form(max_length=64)],
    day: Annotated[str, Form(max_length=20)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Close the clinic on a day; its bookings are moved (as the API's holiday PUT does)."""
    clinic = _unchanged_clinic(request, session, clinic_id, loaded)
    if isinstance(clinic, HTMLResponse):
        return clinic
    try:
        if not name.strip():
            raise RuleViolationError("give the closure a name (e.g. 'Staff training')", field="name")
        try:
            closed = date.fromisoformat(day.strip())
        except ValueError as exc:
            raise RuleViolationError("a date as YYYY-MM-DD", field="day") from exc
        with session.begin_nested():
            close_day(session, clinic, closed, name.strip(), actor=principal.actor(), now=clock.now())
    except (RuleViolationError, ConflictError) as exc:
        errors = {getattr(exc, "field", None) or "day": str(exc)}
        return _render(request, session, clinic, holiday_errors=errors, status_code=422)
    return RedirectResponse(f"/clinics/{clinic_id}/settings?saved=holiday", status_code=303)


@router.post("/clinics/{clinic_id}/settings/holidays/{day}/remove", response_model=None)
def remove_closure(
    request: Request,
    clinic_id: str,
    day: IsoDate,
    principal: Manager,
    session: SessionDep,
    clock: ClockDep,
    loaded: Annotated[str, Form(max_length=64)],
) -> Response:
    clinic = _unchanged_clinic(request, session, clinic_id, loaded)
    if isinstance(clinic, HTMLResponse):
        return clinic
    try:
        with session.begin_nested():
            remove_holiday(session, clinic, day, actor=principal.actor(), now=clock.now())
    except (RuleViolationError, NotFoundError) as exc:
        return _render(request, session, clinic, holiday_errors={"day": str(exc)}, status_code=422)
    return RedirectResponse(f"/clinics/{clinic_id}/settings?saved=holiday", status_code=303)


@router.post("/clinics/{clinic_id}/settings/billing", response_model=None)
def save_billing_setup(
    request: Request,
    clinic_id: str,
    principal: Manager,
    session: SessionDep,
    clock: ClockDep,
    loaded: Annotated[str, Form(max_length=64)],
    effective_from: Annotated[str, Form(max_length=20)] = "",
    place_of_service: Annotated[str, Form(max_length=10)] = "",
    payer_profile: Annotated[str, Form(max_length=60)] = "",
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """A new version of the billing set-up (defaults only; payer profiles are managed through the API)."""
    clinic = _unchanged_clinic(request, session, clinic_id, loaded)
    if isinstance(clinic, HTMLResponse):
        return clinic
    try:
        entry = ClinicBillingEntry.model_validate(
            {
                "effective_from": effective_from.strip() or None,
                "place_of_service": place_of_service.strip() or None,
                "payer_profile": payer_profile.strip() or None,
                "note": note.strip() or None,
            }
        )
        with session.begin_nested():
            set_clinic_billing(session, clinic_id, entry, actor=principal.actor(), now=clock.now())
    except ValidationError as exc:
        return _render(request, session, clinic, billing_errors=_errors_of(exc), status_code=422)
    except RuleViolationError as exc:
        return _render(request, session, clinic, billing_errors={exc.field or "form": str(exc)}, status_code=422)
    return RedirectResponse(f"/clinics/{clinic_id}/settings?saved=billing", status_code=303)
