"""Requests and results of the visits that are not refills: analysis, reprogramming, flush, abandon.

A refill keeps its own contract (:class:`~pump_service.services.contracts.RefillEntry`); every
other kind is one of the entries below and answers with one :class:`VisitResult` that names its
``kind``. Each carries an idempotency key (derived from its content when the client gives none)
with the refill's rules: a retry returns the stored visit with ``replayed: true``, a reused key
with different content is a conflict.
"""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pump_service.persistence.visit_models import VisitKind, VisitState
from pump_service.services.contracts import (
    BillingEntry,
    ChargeLine,
    FindingResult,
    OverrideEntry,
    OverrideResult,
    PlausibleBodyMassKg,
)
from schemas.clock import IsoDate, UtcDatetime
from schemas.drug_catalogue import get_drug
from schemas.prescription import Prescription
from schemas.units import ConcUspUPerMl, VolumeMl

__all__ = [
    "AbandonEntry",
    "AnalysisEntry",
    "FlushAgentEntry",
    "FlushEntry",
    "FlushSite",
    "InjectedResult",
    "ReprogrammingEntry",
    "VisitResult",
]

_KEY = r"^[A-Za-z0-9_-]{8,80}$"
_REF = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Entry(BaseModel):
    # NaN/Infinity are refused here as well as by the API's body guard (the CLI builds these too);
    # no request string is longer than a few kilobytes (free-text notes are shorter still).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_max_length=4096)


class AnalysisEntry(_Entry):
    """An interrogation-only visit of a programmable pump (status, log, replanned due date)."""

    performed_at: UtcDatetime
    idempotency_key: str | None = Field(None, pattern=_KEY)
    billing: BillingEntry = Field(default_factory=BillingEntry)


class ReprogrammingEntry(_Entry):
    """A new prescription written to a programmable pump without a refill."""

    performed_at: UtcDatetime
    prescription: Prescription = Field(description="the prescription to write (it must differ from the one in force)")
    body_mass_kg: PlausibleBodyMassKg | None = Field(None, description="for a per-kg dose guard; default the patient's")
    override: OverrideEntry | None = Field(None, description="a clinician's override of the visit's hard stops")
    idempotency_key: str | None = Field(None, pattern=_KEY)
    billing: BillingEntry = Field(default_factory=BillingEntry)


class FlushSite(StrEnum):
    """Where the flush went in: the pump's catheter access (side) port, or a venous access port."""

    CATHETER_ACCESS_PORT = "catheter_access_port"
    VENOUS_PORT = "venous_port"


class FlushAgentEntry(_Entry):
    """One thing injected to flush: saline by volume, or heparin(ised saline) by volume and strength."""

    drug_id: str = Field(description="a catalogue vehicle (saline) or heparin")
    volume_ml: Annotated[VolumeMl, Field(gt=0, le=100)]
    conc_usp_u_per_ml: ConcUspUPerMl | None = Field(None, gt=0, le=10_000, description="heparin: USP units per mL")
    ndc: str | None = Field(None, pattern=r"^[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}$|^[0-9]{10,11}$")
    lot: str | None = Field(None, min_length=1, max_length=40)
    expires_on: IsoDate | None = None

    @field_validator("drug_id")
    @classmethod
    def _known_drug(cls, value: str) -> str:
        get_drug(value)
        return value


class FlushEntry(_Entry):
    """A port or catheter flush only: nothing is written to the pump (constant-flow or programmable)."""

    performed_at: UtcDatetime
    site: FlushSite = FlushSite.CATHETER_ACCESS_PORT
    injected: tuple[FlushAgentEntry, ...] = Field(min_length=1, max_length=5)
    override: OverrideEntry | None = None
    idempotency_key: str | None = Field(None, pattern=_KEY)
    billing: BillingEntry = Field(default_factory=BillingEntry)


class AbandonEntry(_Entry):
    """A visit started and given up (the pump not reached, the patient unwell...): nothing is billed."""

    pump_serial: str = Field(pattern=_REF)
    kind: VisitKind = Field(VisitKind.REFILL, description="what the visit was meant to be")
    performed_at: UtcDatetime
    reason: str = Field(min_length=3, max_length=500)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class InjectedResult(_Result):
    drug_id: str
    volume_ml: float
    amount_usp_u: float | None
    lot: str | None


class VisitResult(_Result):
    """One recorded visit of any kind but a refill (those answer with ``RefillResult``)."""

    visit_key: str
    kind: VisitKind
    state: VisitState = Field(description="committed, or abandoned")
    pump_serial: str
    performed_at: UtcDatetime
    replayed: bool = Field(description="true when this request had already been recorded")
    findings: tuple[FindingResult, ...] = ()
    warnings: tuple[str, ...] = ()
    override: OverrideResult | None = None
    prescription: Prescription | None = Field(None, description="reprogramming: the prescription now in force")
    reservoir_ml: float | None = Field(None, description="what the pump reported (analysis, reprogramming)")
    planning_rate_ml_per_day: float | None = None
    next_due_at: UtcDatetime | None = None
    new_log_entries: int = Field(0, description="pump log entries stored by this visit")
    injected: tuple[InjectedResult, ...] = ()
    abandon_reason: str | None = None
    charges: tuple[ChargeLine, ...] = Field((), description="the visit's charge events")
