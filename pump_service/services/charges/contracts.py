"""Request and result models of the charges feature: list filters and pages, daily batches, clinic billing.

A stored charge is shown with a *shown* status: its engine status (``billable``, ``not-billable``,
``entered-in-error`` for a void), or ``voided``/``credited`` once a correction points at it.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pump_service.billing import ChargeStatus, EventKind
from pump_service.errors import RuleViolationError
from pump_service.persistence.charge_models import DeliveryState
from pump_service.services import paging
from pump_service.services.paging import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from schemas.clock import IsoDate, UtcDatetime

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_PAGE_LIMIT",
    "BatchTotal",
    "ChargeBatch",
    "ChargePage",
    "ChargeQuery",
    "ChargeView",
    "ClinicBillingEntry",
    "ClinicBillingView",
    "ShownStatus",
    "decode_cursor",
    "encode_cursor",
    "parse_model",
]

_CURSOR_LIST = "charges"
_PROFILE_ID = r"^[a-z][a-z0-9_]{1,40}$"
_M = TypeVar("_M", bound=BaseModel)


class ShownStatus(StrEnum):
    BILLABLE = "billable"
    NOT_BILLABLE = "not-billable"
    ENTERED_IN_ERROR = "entered-in-error"  # a void event itself
    VOIDED = "voided"  # a charge a void points at
    CREDITED = "credited"  # a charge a credit reverses


class ChargeQuery(BaseModel):
    """Filters of every charges list; dates are dates of service (clinic-local), inclusive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: ShownStatus | None = None
    delivery: DeliveryState | None = None
    visit_key: str | None = Field(None, max_length=80)
    service_from: date | None = Field(None, description="date of service on or after")
    service_to: date | None = Field(None, description="date of service on or before")
    recorded_since: UtcDatetime | None = Field(None, description="recorded at or after (aware time)")
    payer_profile: str | None = Field(None, pattern=_PROFILE_ID)
    clinic: str | None = Field(None, max_length=32, description="clinic id (as in /clinics)")
    limit: int = Field(DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)
    cursor: str | None = Field(
        None, max_length=paging.MAX_CURSOR_LENGTH, description="next_cursor of the previous page"
    )


def parse_model(kind: type[_M], raw: dict[str, Any]) -> _M:
    """Validate ``raw`` (CLI options) into ``kind``, dropping None values.

    Raises:
        RuleViolationError: the first invalid field, named.
    """
    try:
        return kind.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "enum":
            message = f"unknown {field} {first['input']!r}: one of {first['ctx']['expected']}"
        raise RuleViolationError(message, field=field) from exc


def encode_cursor(last_id: int) -> str:
    """An opaque cursor after the row ``last_id`` (rows are listed in recording order)."""
    return paging.encode_cursor(_CURSOR_LIST, (last_id,))


def decode_cursor(cursor: str) -> int:
    """Raises: RuleViolationError: not a cursor this service issued for the charges list."""
    (last_id,) = paging.decode_cursor(_CURSOR_LIST, cursor, (int,))
    return cast(int, last_id)


class ChargeView(BaseModel):
    """A stored event as the API and the CLI show it."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    kind: EventKind
    original_event_id: str | None = Field(description="the charge a void or credit corrects")
    voided_by_event_id: str | None = Field(description="the void of this charge")
    credited_by_event_id: str | None = Field(description="the credit of this charge")
    visit_key: str
    refill_id: int | None
    clinic: str | None
    patient_ref: str
    service_date: str
    code: str
    descriptor: str
    modifiers: tuple[str, ...]
    units: int
    status: ShownStatus
    billing_status: ChargeStatus = Field(description="the status the engine gave the event (never changes)")
    status_reason: str | None
    payer_profile: str
    reference_version: str | None = Field(description="reference data release (+ clinic set-up version) used")
    expected_allowable_usd: float | None
    delivery_status: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime
    created_by: str
    station_id: str


class ChargePage(BaseModel):
    """One page of a charges list; ``next_cursor`` is None on the last page."""

    items: list[ChargeView]
    next_cursor: str | None


class BatchTotal(BaseModel):
    """A payer's part of a daily batch: billable (uncorrected) charge lines only."""

    payer_profile: str
    lines: int
    units: int
    expected_allowable_usd: float = Field(description="sum of the known allowables")
    unpriced_lines: int = Field(description="billable lines without a known allowable")


class ChargeBatch(BaseModel):
    """A clinic's charges for one date of service: totals by payer and (a page of) the lines."""

    clinic: str
    service_date: date
    visits: int
    lines: int = Field(description="charge lines of the day (not corrections), any status")
    billable_lines: int
    units: int = Field(description="units of the billable lines")
    totals: list[BatchTotal]
    items: list[ChargeView]
    next_cursor: str | None


class ClinicBillingEntry(BaseModel):
    """A new version of a clinic's billing set-up.

    ``profiles`` holds payer profiles with exactly the keys of the packaged ``profiles.toml``
    (``covered_from`` dates as ``YYYY-MM-DD``); their ids may not repeat a packaged profile.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=4096)

    effective_from: IsoDate
    jurisdiction: str | None = Field(None, description="Medicare A/B MAC jurisdiction, e.g. JJ or JM")
    place_of_service: str | None = Field(None, pattern=r"^[0-9]{2}$", description="default CMS POS of the clinic")
    payer_profile: str | None = Field(None, pattern=_PROFILE_ID, description="default profile of the clinic")
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict, max_length=20)
    note: str | None = Field(None, max_length=200)


class ClinicBillingView(BaseModel):
    """A stored version of a clinic's billing set-up, with who recorded it."""

    clinic: str
    version: int
    effective_from: date
    jurisdiction: str | None
    place_of_service: str | None
    payer_profile: str | None
    profiles: dict[str, dict[str, Any]]
    note: str | None
    created_at: datetime
    created_by: str
    station_id: str
