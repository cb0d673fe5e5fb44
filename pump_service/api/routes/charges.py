"""Stored charge events: list them, export them for the billing system, void or credit one."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from pump_service.api.deps import ActorDep, ClockDep, SessionDep
from pump_service.services.charges.recording import export_charges, list_charges, void_charge
from pump_service.services.charges.views import ChargeView, charge_view
from schemas.clock import UtcDatetime

router = APIRouter(tags=["charges"])

StatusQuery = Annotated[str | None, Query(description="billable, not-billable or entered-in-error")]
DeliveryQuery = Annotated[str | None, Query(description="pending, delivered, rejected or skipped")]
VisitQuery = Annotated[str | None, Query(alias="visit", description="only this visit key")]
SinceQuery = Annotated[UtcDatetime | None, Query(description="recorded at or after (with a UTC offset)")]

_EXPORT_MEDIA: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/fhir+json": {}, "x-application/hl7-v2+er7": {}, "text/csv": {}}}
}


class VoidEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200, description="why the charge is wrong (no patient details)")


@router.get("/charges")
def read_charges(
    session: SessionDep,
    status: StatusQuery = None,
    delivery: DeliveryQuery = None,
    visit_key: VisitQuery = None,
    since: SinceQuery = None,
) -> list[ChargeView]:
    """Stored charges, voids and credits, oldest first."""
    rows = list_charges(session, status=status, delivery=delivery, since=since, visit_key=visit_key)
    return [charge_view(row) for row in rows]


@router.get("/charges/export", response_class=Response, responses=_EXPORT_MEDIA)
def read_charges_export(
    session: SessionDep,
    clock: ClockDep,
    export_format: Annotated[str, Query(alias="format", description="fhir, hl7 or csv")] = "fhir",
    status: StatusQuery = None,
    delivery: DeliveryQuery = None,
    visit_key: VisitQuery = None,
    since: SinceQuery = None,
) -> Response:
    """The stored events as a FHIR R4 Bundle, HL7 v2 DFT^P03 messages (one per visit) or CSV."""
    export = export_charges(
        session, export_format, now=clock.now(), visit_key=visit_key, status=status, delivery=delivery, since=since
    )
    return Response(export.body, media_type=export.media_type)


@router.post(
    "/charges/{event_id}/void",
    status_code=201,
    responses={404: {"description": "no such event"}, 409: {"description": "already voided or credited"}},
)
def create_charge_void(
    event_id: str, entry: VoidEntry, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> ChargeView:
    """Void a charge, or credit it if the billing system already received it; returns the new event."""
    return charge_view(void_charge(session, event_id, reason=entry.reason, actor=actor, now=clock.now()))
