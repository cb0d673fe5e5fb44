"""GS1 barcodes of drug vials: what a scan says (GTIN, NDC, lot, expiry, serial)."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from pump_service.api.auth import Principal, require
from pump_service.api.deps import ClockDep, SettingsDep
from pump_service.domain.access import Permission
from pump_service.services.visits.gs1 import MAX_SCAN_CHARS, parse_vial_barcode

router = APIRouter(tags=["refills"])


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(
        min_length=1,
        max_length=MAX_SCAN_CHARS,
        description="the scanned element string (GS as \\u001d) or its human-readable form '(01)...(17)...'",
    )


class ScanView(BaseModel):
    gtin: str = Field(description="GTIN-14")
    ndc: str | None = Field(description="the 10-digit NDC of an NDC-based GTIN, unhyphenated")
    lot: str | None
    expires_on: date | None = Field(description="expiry day (a YYMMDD day 00 is the month's last day)")
    serial: str | None
    expired: bool = Field(description="expired before today in the clinic's zone")
    drug_id: str | None = Field(description="the catalogue drug of this NDC; none: the catalogue has no NDCs yet")


@router.post("/gs1/parse", responses={422: {"description": "not a GS1 vial barcode (the problem is named)"}})
def parse_scan(
    request: ScanRequest,
    settings: SettingsDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require(Permission.RECORD_VISIT))],
) -> ScanView:
    """Parse a vial's scanned GS1 barcode; nothing is stored."""
    scan = parse_vial_barcode(request.data)
    today = clock.now().astimezone(settings.zone).date()
    return ScanView(
        gtin=scan.gtin,
        ndc=scan.ndc,
        lot=scan.lot,
        expires_on=scan.expires_on,
        serial=scan.serial,
        expired=scan.expired(today),
        drug_id=None,
    )
