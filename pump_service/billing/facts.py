"""The charge engine's input: what happened at one refill visit (docs/billing.md, "Visit facts").

The refill transaction fills in a :class:`VisitFacts`; the engine reads nothing else. Drug amounts
are canonical floats named by unit (``administered_mg``, ``administered_usp_u``,
``administered_ml``); quantity strings such as ``"252 mg"`` or ``"30000 U"`` are accepted and
converted through :mod:`schemas.units`. Unknown fields are refused, so a misspelt flag never
silently falls back to its default. Facts that contradict each other (an analysis of a
constant-flow pump, which has no electronics) are refused here rather than billed.
"""

import math
import re
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.clock import UtcDatetime
from schemas.drug import AmountBasis
from schemas.drug_catalogue import get_drug
from schemas.pump import DeliveryRoute, PumpFamily
from schemas.units import ActivityUspU, MassMg, VolumeMl

__all__ = [
    "AMOUNT_UNITS",
    "ContainerKind",
    "Documentation",
    "DrugGiven",
    "DrugPurpose",
    "EmService",
    "ImagingGuidance",
    "NdcUnit",
    "PerformerRole",
    "SuppliedBy",
    "SupplyUsed",
    "VisitFacts",
    "normalise_icd10",
    "normalise_ndc",
]

_REF = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_VISIT_KEY = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,79}$"
_PROCEDURE_CODE = r"^(?:[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})$"
_ICD10_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")
_NDC_SHAPES = {(5, 4, 2), (4, 4, 2), (5, 3, 2), (5, 4, 1)}
# Drugs are counted in the unit of their catalogue amount basis; amounts in any other unit are refused.
AMOUNT_UNITS: dict[AmountBasis, str] = {
    AmountBasis.MASS: "mg",
    AmountBasis.ACTIVITY: "USP_U",
    AmountBasis.VEHICLE: "mL",
}
_AMOUNT_SUFFIX = {AmountBasis.MASS: "mg", AmountBasis.ACTIVITY: "usp_u", AmountBasis.VEHICLE: "ml"}


class PerformerRole(StrEnum):
    CLINICAL_STAFF = "clinical_staff"
    PHYSICIAN_QHP = "physician_qhp"


class ImagingGuidance(StrEnum):
    NONE = "none"
    FLUOROSCOPY = "fluoroscopy"
    ULTRASOUND = "ultrasound"


class ContainerKind(StrEnum):
    SINGLE = "single"
    MULTI = "multi"


class SuppliedBy(StrEnum):
    """``pharmacy`` means a specialty pharmacy bills the payer for the drug itself."""

    PRACTICE = "practice"
    PHARMACY = "pharmacy"


class DrugPurpose(StrEnum):
    """Patency and diluent uses (heparinised saline, saline, glycerin) count as pump maintenance."""

    THERAPEUTIC = "therapeutic"
    PATENCY = "patency"
    DILUENT = "diluent"


class Documentation(StrEnum):
    """What the record documents, for the coverage pre-check (R17)."""

    LIVER_LIMITED_UNRESECTABLE = "liver_limited_unresectable"
    NONINVASIVE_THERAPY_FAILED = "noninvasive_therapy_failed"
    TRIAL_RESPONSE = "trial_response"
    LIFE_EXPECTANCY_3_MONTHS = "life_expectancy_3_months"


class NdcUnit(StrEnum):
    """NDC quantity units accepted on claims (837P CTP05-01)."""

    UN = "UN"
    ML = "ML"
    GR = "GR"
    F2 = "F2"


def normalise_icd10(code: str) -> str:
    """Upper-case ``code`` and check it has the ICD-10-CM shape (``C78.7``, ``G89.4``, ``C49.A0``).

    Raises:
        ValueError: the code is not a letter, a digit, a character, then an optional dot and
            one to four characters. Undotted long forms (``C787``) are refused as ambiguous.
    """
    value = code.strip().upper()
    if not _ICD10_RE.match(value):
        raise ValueError(f"malformed ICD-10-CM code {code!r}: expected a form such as 'C78.7' or 'Z45.1'")
    return value


def normalise_ndc(ndc: str) -> str:
    """Return ``ndc`` in the 11-digit 5-4-2 form claims use (``12345-6789-01``).

    Raises:
        ValueError: not one of the hyphenated 10-digit shapes (4-4-2, 5-3-2, 5-4-1), 5-4-2, or
            11 bare digits. Ten bare digits are refused: where the padding zero goes is unknown.
    """
    text = ndc.strip()
    if re.fullmatch(r"[0-9]{11}", text):
        return f"{text[:5]}-{text[5:9]}-{text[9:]}"
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or tuple(map(len, parts)) not in _NDC_SHAPES:
        raise ValueError(f"malformed NDC {ndc!r}: expected 5-4-2 (e.g. '12345-6789-01') or a 10-digit hyphenated form")
    return f"{parts[0]:0>5}-{parts[1]:0>4}-{parts[2]:0>2}"


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DrugGiven(_Fact):
    """One drug or infusate put into the pump, with the amount given and the amount opened.

    Exactly one ``administered_*`` field is set, the one matching the catalogue drug's amount basis
    (mass in mg, heparin activity in USP units, vehicles in mL); the ``opened_*`` field of the same
    unit is the whole content of the containers opened and is required for single-dose containers,
    whose discarded remainder is billed with JW.
    """

    drug_id: str
    ndc: str | None = None
    administered_mg: MassMg | None = None
    administered_usp_u: ActivityUspU | None = None
    administered_ml: VolumeMl | None = None
    opened_mg: MassMg | None = None
    opened_usp_u: ActivityUspU | None = None
    opened_ml: VolumeMl | None = None
    container: ContainerKind
    compounded: bool = False
    supplied_by: SuppliedBy = SuppliedBy.PRACTICE
    purpose: DrugPurpose = DrugPurpose.THERAPEUTIC
    ndc_qty: float | None = Field(None, gt=0, description="quantity in NDC package units, if the station knows it")
    ndc_unit: NdcUnit | None = None
    invoice_ref: str | None = Field(None, max_length=40, description="compounding invoice, quoted in the narrative")
    lot: str | None = Field(None, max_length=40)

    @field_validator("drug_id")
    @classmethod
    def _known_drug(cls, value: str) -> str:
        get_drug(value)
        return value

    @field_validator("ndc")
    @classmethod
    def _ndc_shape(cls, value: str | None) -> str | None:
        return None if value is None else normalise_ndc(value)

    @model_validator(mode="after")
    def _amounts_match_basis(self) -> "DrugGiven":
        basis = get_drug(self.drug_id).amount_basis
        suffix = _AMOUNT_SUFFIX[basis]
        for prefix in ("administered", "opened"):
            stray = [s for s in _AMOUNT_SUFFIX.values() if s != suffix and getattr(self, f"{prefix}_{s}") is not None]
            if stray:
                raise ValueError(
                    f"{self.drug_id} is counted in {AMOUNT_UNITS[basis]}: "
                    f"use {prefix}_{suffix}, not {prefix}_{stray[0]}"
                )
        if self.administered_amount is None:
            raise ValueError(f"administered_{suffix} is required for {self.drug_id}")
        billed_here = self.supplied_by is SuppliedBy.PRACTICE and not self.compounded
        if self.opened_amount is None and self.container is ContainerKind.SINGLE and billed_here:
            raise ValueError(f"opened_{suffix} is required for a single-dose container (it decides JW/JZ)")
        opened = self.opened_amount
        if (
            opened is not None
            and opened < self.administered_amount
            and not math.isclose(opened, self.administered_amount, rel_tol=1e-9)
        ):
            raise ValueError(f"opened_{suffix} ({opened:g}) is less than administered_{suffix}")
        if basis is AmountBasis.VEHICLE and self.purpose is DrugPurpose.THERAPEUTIC:
            raise ValueError(f"{self.drug_id} is a vehicle: its purpose is 'diluent' or 'patency'")
        if (self.ndc_qty is None) != (self.ndc_unit is None):
            raise ValueError("ndc_qty and ndc_unit go together")
        return self

    @property
    def amount_unit(self) -> str:
        """Canonical unit of the amounts: ``mg``, ``USP_U`` or ``mL``."""
        return AMOUNT_UNITS[get_drug(self.drug_id).amount_basis]

    @property
    def administered_amount(self) -> float | None:
        suffix = _AMOUNT_SUFFIX[get_drug(self.drug_id).amount_basis]
        value: float | None = getattr(self, f"administered_{suffix}")
        return value

    @property
    def opened_amount(self) -> float | None:
        suffix = _AMOUNT_SUFFIX[get_drug(self.drug_id).amount_basis]
        value: float | None = getattr(self, f"opened_{suffix}")
        return value


class SupplyUsed(_Fact):
    """A supply item used at the visit, e.g. the A4220 refill kit, with its lot for traceability."""

    code: str = Field(pattern=_PROCEDURE_CODE)
    quantity: int = Field(1, ge=1, le=99)
    lot: str | None = Field(None, max_length=40)


class EmService(_Fact):
    """A separate evaluation and management service at the visit.

    Listing one asserts it was significant and separately identifiable from the refill; 99211 is
    the only level clinical staff may perform.
    """

    code: str = Field(pattern=r"^992(?:0[2-5]|1[1-5])$")
    performer_id: str = Field(pattern=_REF)
    performer_role: PerformerRole

    @model_validator(mode="after")
    def _level_fits_role(self) -> "EmService":
        if self.code != "99211" and self.performer_role is not PerformerRole.PHYSICIAN_QHP:
            raise ValueError(f"E/M {self.code} needs a physician or qualified health care professional")
        return self


class VisitFacts(_Fact):
    """Everything the charge engine needs to know about one refill visit.

    ``visit_key`` is the visit's idempotency key and seeds every line's ``event_id``; ``revision``
    is raised when a visit is re-billed after its first charges were voided, so the new lines get
    new ids. ``service_date`` is the clinic-local date of ``service_at``. ``same_day_codes`` lists
    codes already charged for the patient on that date by other visits (sole-service and NCCI
    checks look at them). ``documentation`` lists what the record documents for the coverage
    pre-check.
    """

    visit_key: str = Field(pattern=_VISIT_KEY)
    revision: int = Field(0, ge=0, le=999)
    service_at: UtcDatetime
    service_date: date
    patient_ref: str = Field(pattern=_REF)
    route: DeliveryRoute
    pump_family: PumpFamily
    refilled: bool
    analysis_done: bool = False
    prescription_changed: bool = Field(False, description="dose or rate changed; a refill-date update is not a change")
    performer_role: PerformerRole
    performer_id: str = Field(pattern=_REF)
    supervising_id: str | None = Field(None, pattern=_REF)
    place_of_service: str = Field(pattern=r"^[0-9]{2}$", description="CMS 2-digit place-of-service code")
    payer_profile: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    chemo_cycle_initiated_today: bool = False
    port_flush_only: bool = False
    separate_em: EmService | None = None
    imaging_guidance: ImagingGuidance = ImagingGuidance.NONE
    distinct_service_documented: bool = Field(
        False, description="same-day procedures were distinct (other session or site): allows 59/XU where NCCI permits"
    )
    drugs: tuple[DrugGiven, ...] = ()
    supplies: tuple[SupplyUsed, ...] = ()
    diagnoses: tuple[str, ...] = Field((), max_length=12)
    documentation: tuple[Documentation, ...] = ()
    same_day_codes: tuple[str, ...] = ()

    @field_validator("diagnoses")
    @classmethod
    def _icd10(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(normalise_icd10(code) for code in value)
        if len(set(codes)) != len(codes):
            raise ValueError("a diagnosis is listed twice")
        return codes

    @field_validator("same_day_codes")
    @classmethod
    def _procedure_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.fullmatch(_PROCEDURE_CODE, code):
                raise ValueError(f"malformed CPT/HCPCS code {code!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "VisitFacts":
        if abs(self.service_date - self.service_at.date()) > timedelta(days=1):
            raise ValueError("service_date must be the clinic-local date of service_at")
        if self.chemo_cycle_initiated_today and (self.route is not DeliveryRoute.INTRA_ARTERIAL or not self.refilled):
            raise ValueError("a chemotherapy initiation (96425) is an intra-arterial pump fill: route and refilled")
        if self.analysis_done and self.pump_family is PumpFamily.CONSTANT_FLOW:
            raise ValueError("a constant-flow pump has no electronics to analyse")
        return self
