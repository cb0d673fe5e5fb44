"""The audit page for managers and admins: the trail, filtered, with a banner saying whether the chain verifies.

It shares ``/audit`` with the API route and answers only browsers asking for HTML
(``html_route.HtmlPageRoute``). Times are typed and shown in the clinic's zone; the filters are
the API's. The newest ``VERIFIED_ON_VIEW`` entries are verified on each view, so the banner is never an
old verdict and its cost stays bounded as the trail grows.
"""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from pump_service.api.auth import Principal, require_page
from pump_service.api.deps import SessionDep, SettingsDep
from pump_service.domain.access import Permission
from pump_service.errors import RuleViolationError
from pump_service.services.audit import AuditEntryView, AuditQuery, list_audit_entries, verify_audit_chain
from pump_service.web.html_route import HtmlPageRoute
from pump_service.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=HtmlPageRoute)
ReadAuditPage = Annotated[Principal, Depends(require_page(Permission.READ_AUDIT))]
_FILTERS = ("entity", "entity_id", "user", "since", "until")
_SHOWN_LIMIT = 100
# The banner checks the newest entries on every view (about 0.1 s per 1 000 on a station);
# ``pump-service audit verify`` checks the whole chain.
VERIFIED_ON_VIEW = 10_000


def _shown(value: Any) -> str:
    return "—" if value is None else str(value)


def _changes(entry: AuditEntryView) -> list[dict[str, str]]:
    """Each column as (name, before, after): an update shows old → new, an insert the new values."""
    before: dict[str, Any] = entry.before if isinstance(entry.before, dict) else {}
    after: dict[str, Any] = entry.after if isinstance(entry.after, dict) else {}
    names = list(dict.fromkeys([*before, *after]))
    if entry.action == "update":
        names = [name for name in names if name != "id"]
    return [
        {
            "name": name,
            "before": _shown(before.get(name)) if name in before else "",
            "after": _shown(after.get(name)) if name in after else "",
        }
        for name in names
    ]


def _moment(text: str, settings: SettingsDep, field: str) -> datetime | None:
    """A clinic-local ``YYYY-MM-DDTHH:MM`` (as a datetime-local field sends it) in UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RuleViolationError(f"{field}: not a date and time (YYYY-MM-DD HH:MM)", field=field) from None
    return moment.replace(tzinfo=settings.zone) if moment.tzinfo is None else moment


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    principal: ReadAuditPage,
    session: SessionDep,
    settings: SettingsDep,
    entity: Annotated[str, Query(max_length=64)] = "",
    entity_id: Annotated[str, Query(max_length=64)] = "",
    user: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    verdict = verify_audit_chain(session, newest=VERIFIED_ON_VIEW)
    filters = {"entity": entity, "entity_id": entity_id, "user": user, "since": since, "until": until}
    messages: list[dict[str, str]] = []
    entries: list[dict[str, Any]] = []
    next_link = None
    try:
        query = AuditQuery(
            entity=entity or None,
            entity_id=entity_id or None,
            user=user or None,
            since=_moment(since, settings, "since"),
            until=_moment(until, settings, "until"),
            limit=_SHOWN_LIMIT,
            cursor=cursor or None,
        )
        page = list_audit_entries(session, query)
    except (RuleViolationError, ValidationError) as exc:
        messages.append({"level": "error", "text": str(exc).splitlines()[0]})
        status = 422
    else:
        status = 200
        zone = settings.zone
        entries = [
            {
                "entry": item,
                "at": item.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
                "changes": _changes(item),
            }
            for item in page.items
        ]
        if page.next_cursor is not None:
            kept = {key: value for key, value in filters.items() if value}
            next_link = "/audit?" + urlencode({**kept, "cursor": page.next_cursor})
    context = {
        "title": "Audit trail",
        "messages": messages,
        "verdict": verdict,
        "filters": filters,
        "entries": entries,
        "next_link": next_link,
        "zone": settings.clinic_tz,
        "viewer": principal.user_id,
    }
    return render(request, "audit.html", context, status_code=status)
