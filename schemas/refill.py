"""A refill as every layer sees it: what was aspirated, what went in, and how it compared."""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.clock import UtcDatetime

__all__ = ["FillComponent", "FlowClass", "RefillRecord"]


class FlowClass(StrEnum):
    """How far the measured flow is from the expected flow (thresholds are configurable)."""

    OK = "ok"
    WARN = "warn"
    ALERT = "alert"


class FillComponent(BaseModel):
    """One drug or vehicle in a fill, with canonical amounts and traceability (NDC, lot, expiry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drug_id: str
    volume_ml: float = Field(ge=0, description="volume of this component in the fill")
    amount_mg: float | None = Field(None, ge=0)
    amount_usp_u: float | None = Field(None, ge=0)
    ndc: str | None = Field(None, max_length=20)
    lot: str | None = Field(None, max_length=40)
    expires_on: date | None = None


class RefillRecord(BaseModel):
    """A recorded refill with the figures that were computed for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pump_serial: str
    performed_at: UtcDatetime
    previous_fill_at: UtcDatetime | None
    previous_fill_volume_ml: float | None = Field(None, ge=0)
    returned_volume_ml: float = Field(ge=0)
    fill_volume_ml: float = Field(gt=0)
    components: tuple[FillComponent, ...] = ()
    expected_residual_ml: float | None = Field(None, ge=0)
    expected_rate_ml_per_day: float | None = Field(None, ge=0)
    measured_rate_ml_per_day: float | None = Field(None, ge=0)
    deviation_pct: float | None = None
    flow_class: FlowClass | None = None
    likely_causes: tuple[str, ...] = ()
    next_due_at: UtcDatetime | None = None
