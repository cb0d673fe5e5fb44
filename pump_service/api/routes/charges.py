"""Stored charge events: list them (paged), daily batches, exports, voids; clinics' billing set-up."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from pump_service.api.deps import ActorDep, ClockDep, SessionDep
from pump_service.api.pagination import PageDep
from pump_service.persistence.charge_models import DeliveryState
from pump_service.services.charges import (
    charge_batch,
    clinic_billing_history,
    export_charges,
    list_charge_page,
    set_clinic_billing,
    void_charge,
)
from pump_service.services.charges.contracts import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    ChargeBatch,
    ChargePage,
    ChargeQuery,
    ChargeView,
    ClinicBillingEntry,
    ClinicBillingView,
    ShownStatus,
)
from pump_service.services.charges.views import charge_view
from pump_service.services.paging import MAX_CURSOR_LENGTH, Page, page_of
from schemas.clock import IsoDate, UtcDatetime

router = APIRouter(tags=["charges"])

_EXPORT_MEDIA: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/fhir+json": {}, "x-application/hl7-v2+er7": {}, "text/csv": {}}}
}
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT, description="page size")]
CursorQuery = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page")]


class ChargeFilters(BaseModel):
    """The filters of every charges list (query parameters); unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")

    status: ShownStatus | None = Field(None, description="billable, not-billable, entered-in-error, voided, credited")
    delivery: DeliveryState | None = Field(None, description="pending, delivered, rejected or skipped")
    visit: str | None = Field(None, max_length=80, description="only this visit key")
    since: IsoDate | None = Field(None, description="date of service on or after (YYYY-MM-DD)")
    until: IsoDate | None = Field(None, description="date of service on or before (YYYY-MM-DD)")
    recorded_since: UtcDatetime | None = Field(None, description="recorded at or after (with a UTC offset)")
    payer: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{1,40}$", description="payer profile id")
    clinic: str | None = Field(None, max_length=32, description="clinic id")

    def query(self) -> ChargeQuery:
        return ChargeQuery.model_validate(
            {
                "status": self.status,
                "delivery": self.delivery,
                "visit_key": self.visit,
                "service_from": self.since,
                "service_to": self.until,
                "recorded_since": self.recorded_since,
                "payer_profile": self.payer,
                "clinic": self.clinic,
                "limit": getattr(self, "limit", DEFAULT_PAGE_LIMIT),
                "cursor": getattr(self, "cursor", None),
            }
        )


class ChargeListParams(ChargeFilters):
    limit: int = Field(DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="page size")
    cursor: str | None = Field(None, max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page")


class ChargeExportParams(ChargeFilters):
    format: str = Field("fhir", description="fhir, hl7 or csv")


class VoidEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200, description="why the charge is wrong (no patient details)")


@router.get("/charges", responses={404: {"description": "unknown clinic"}})
def read_charges(session: SessionDep, params: Annotated[ChargeListParams, Query()]) -> ChargePage:
    """Stored charges, voids and credits in recording order, one page at a time."""
    return list_charge_page(session, params.query())


@router.get("/charges/batches", responses={404: {"description": "unknown clinic"}})
def read_charge_batch(
    session: SessionDep,
    clinic: Annotated[str, Query(max_length=32, description="clinic id")],
    service_date: Annotated[IsoDate, Query(alias="date", description="date of service (YYYY-MM-DD)")],
    limit: LimitQuery = DEFAULT_PAGE_LIMIT,
    cursor: CursorQuery = None,
) -> ChargeBatch:
    """A clinic's daily batch: lines, units and totals by payer for one date of service."""
    return charge_batch(session, clinic=clinic, service_date=service_date, limit=limit, cursor=cursor)


@router.get(
    "/charges/export",
    response_class=Response,
    responses={**_EXPORT_MEDIA, 404: {"description": "unknown visit or clinic"}},
)
def read_charges_export(
    session: SessionDep,
    clock: ClockDep,
    params: Annotated[ChargeExportParams, Query()],
) -> Response:
    """The matching events (all of them) as a FHIR R4 Bundle, HL7 v2 DFT^P03 messages or CSV."""
    export = export_charges(session, params.format, now=clock.now(), query=params.query())
    return Response(export.body, media_type=export.media_type)


@router.post(
    "/charges/{event_id}/void",
    status_code=201,
    responses={404: {"description": "no such event"}, 409: {"description": "already voided or credited"}},
)
def create_charge_void(
    event_id: str, entry: VoidEntry, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> ChargeView:
    """Void a charge, or credit it if the billing system already received it; returns the new event.

    The original is then shown ``voided`` (or ``credited``) with a link to this event.
    """
    return charge_view(void_charge(session, event_id, reason=entry.reason, actor=actor, now=clock.now()))


@router.get("/clinics/{clinic_id}/billing", responses={404: {"description": "no such clinic"}})
def read_clinic_billing(clinic_id: str, session: SessionDep, page: PageDep) -> Page[ClinicBillingView]:
    """Every version of the clinic's billing set-up, oldest first (empty: the packaged defaults)."""
    versions = clinic_billing_history(session, clinic_id)
    return page_of(versions, key=lambda v: (v.version,), kinds=(int,), request=page, list_name=f"billing:{clinic_id}")


@router.post(
    "/clinics/{clinic_id}/billing",
    status_code=201,
    responses={404: {"description": "no such clinic"}, 422: {"description": "invalid set-up; nothing stored"}},
)
def create_clinic_billing(
    clinic_id: str, entry: ClinicBillingEntry, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> ClinicBillingView:
    """Store a new version of the clinic's billing set-up (validated with the packaged schema)."""
    return set_clinic_billing(session, clinic_id, entry, actor=actor, now=clock.now())
