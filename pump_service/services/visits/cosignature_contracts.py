"""What a station sends to have a second person co-sign, and what it gets back.

The password travels once, in the body of a request from the station the nurse is signed in at;
it is checked and forgotten (never stored, logged or echoed).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from pump_service.domain import bounds
from pump_service.domain.findings import FindingCode
from pump_service.services.contracts import OverrideReason
from schemas.drug_catalogue import get_drug
from schemas.units import VolumeMl

__all__ = ["CosignatureRequest", "CosignatureView", "OverrideCosignRequest", "SecondCheckCosignRequest"]

_USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class _Signed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(pattern=_USERNAME, description="the co-signer's own username")
    password: SecretStr = Field(min_length=1, max_length=256, description="the co-signer's password, typed by them")


class OverrideCosignRequest(_Signed):
    """A physician overrides the named hard stops of the refill being entered, for a reason."""

    kind: Literal["hard_stop_override"]
    reason: OverrideReason
    codes: tuple[FindingCode, ...] = Field(min_length=1, max_length=20)


class SecondCheckCosignRequest(_Signed):
    """A second clinician confirms the drug, concentration and fill volume of a spinal fill."""

    kind: Literal["second_check"]
    drug_id: str
    concentration: float = Field(gt=0, allow_inf_nan=False, le=1e6, description="mg/mL or USP_U/mL, as filled")
    fill_volume_ml: Annotated[VolumeMl, Field(gt=0)]

    @field_validator("drug_id")
    @classmethod
    def _known(cls, value: str) -> str:
        get_drug(value)
        return value

    @field_validator("fill_volume_ml")
    @classmethod
    def _bounded(cls, value: float) -> float:
        if not bounds.FILL_VOLUME_ML.contains(value):
            raise ValueError(bounds.FILL_VOLUME_ML.message(value))
        return value


CosignatureRequest = Annotated[OverrideCosignRequest | SecondCheckCosignRequest, Field(discriminator="kind")]


class CosignatureView(BaseModel):
    """A stored co-signature: its id goes into the refill request's ``cosignatures``."""

    model_config = ConfigDict(frozen=True)

    cosignature_id: int
    kind: str = Field(description="hard_stop_override or second_check")
    pump_serial: str
    signer: str
    signer_role: str
    station_id: str
    created_at: datetime
    expires_at: datetime
    payload: dict[str, Any]
