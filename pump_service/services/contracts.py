"""Validated requests and results of the service's use cases, shared by the API and the CLI.

Quantities arrive as strings with units (``"2.5 mL/h"``) or numbers in the canonical unit and are
checked against their dimension here; everything after this point is canonical floats. Unknown
fields are refused, so a typo never silently drops a value.
"""

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from pump_service.billing.facts import (
    ContainerKind,
    Documentation,
    DrugPurpose,
    EmService,
    ImagingGuidance,
    PerformerRole,
    SuppliedBy,
)
from pump_service.domain import bounds
from pump_service.domain.findings import FindingCode
from pump_service.persistence.models import PumpState
from schemas.clock import IsoDate, UtcDatetime
from schemas.drug import DoseBasis
from schemas.drug_catalogue import get_drug
from schemas.prescription import Prescription
from schemas.pump import DeliveryRoute
from schemas.pump_catalogue import get_pump_model
from schemas.units import (
    ActivityUspU,
    AltitudeM,
    BodyMassKg,
    ConcMgPerMl,
    ConcUspUPerMl,
    DoseMgPerDay,
    DoseMgPerKgPerDay,
    DoseUspUPerDay,
    MassMg,
    PressureMmHg,
    RateMlPerDay,
    TemperatureDegC,
    VolumeMl,
)

__all__ = [
    "BillingEntry",
    "ConditionEntry",
    "CosignatureBrief",
    "DoseEntry",
    "FillComponentEntry",
    "ModelCorrection",
    "OverrideEntry",
    "OverrideReason",
    "PatientEntry",
    "PumpRegistration",
    "PumpReplacement",
    "RefillEntry",
]

_REF = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def _within(bound: bounds.Bound) -> AfterValidator:
    """A validator refusing a canonical value outside ``bound``, with the value, the range and why."""

    def check(value: float) -> float:
        if not bound.contains(value):
            raise ValueError(bound.message(value))
        return value

    return AfterValidator(check)


PlausibleBodyMassKg = Annotated[BodyMassKg, _within(bounds.BODY_MASS_KG)]


class _Request(BaseModel):
    # NaN/Infinity are refused here as well as by the API's body guard (the CLI builds these too);
    # no request string is longer than a few kilobytes (free-text notes are shorter still).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_max_length=4096)


class PatientEntry(_Request):
    """A patient by the clinic's pseudonymous reference; never a name."""

    patient_ref: str = Field(pattern=_REF)
    body_mass_kg: PlausibleBodyMassKg | None = None


class PumpRegistration(_Request):
    serial: str = Field(pattern=_REF)
    model_id: str
    route: DeliveryRoute
    patient_ref: str | None = Field(None, pattern=_REF)
    nominal_rate_ml_per_day: RateMlPerDay | None = Field(
        None, gt=0, description="the unit's labelled rate (constant-flow); defaults to the model's"
    )
    implanted_at: UtcDatetime | None = None
    prescription: Prescription | None = Field(None, description="programmable pumps: the prescription in force")

    @field_validator("model_id")
    @classmethod
    def _known_model(cls, value: str) -> str:
        get_pump_model(value)
        return value

    @model_validator(mode="after")
    def _fits_model(self) -> "PumpRegistration":
        model = get_pump_model(self.model_id)
        if self.route not in model.routes:
            raise ValueError(f"route {self.route.value} is not available on {model.name}")
        if self.prescription is not None and model.flow_law is not None:
            raise ValueError("a constant-flow pump takes no prescription: its dose is set by the fill")
        rate = self.nominal_rate_ml_per_day
        if rate is not None:
            if model.flow_law is None:
                raise ValueError("a programmable pump's rate comes from its prescription")
            if not model.min_rate_ml_per_day <= rate <= model.max_rate_ml_per_day:
                raise ValueError(
                    f"nominal rate {rate:g} mL/day is outside {model.min_rate_ml_per_day:g}-"
                    f"{model.max_rate_ml_per_day:g} mL/day for {model.name}"
                )
        return self


class DoseEntry(_Request):
    """A prescribed daily dose; exactly one basis is given."""

    mg_per_kg_per_day: Annotated[DoseMgPerKgPerDay, _within(bounds.DOSE_MG_PER_KG_PER_DAY)] | None = None
    mg_per_day: Annotated[DoseMgPerDay, _within(bounds.DOSE_MG_PER_DAY)] | None = None
    usp_u_per_day: Annotated[DoseUspUPerDay, _within(bounds.DOSE_USP_U_PER_DAY)] | None = None

    @model_validator(mode="after")
    def _one_basis(self) -> "DoseEntry":
        given = [v for v in (self.mg_per_kg_per_day, self.mg_per_day, self.usp_u_per_day) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of mg_per_kg_per_day, mg_per_day, usp_u_per_day")
        return self

    @property
    def basis_and_value(self) -> tuple[DoseBasis, float]:
        if self.mg_per_kg_per_day is not None:
            return DoseBasis.MG_PER_KG_PER_DAY, self.mg_per_kg_per_day
        if self.mg_per_day is not None:
            return DoseBasis.MG_PER_DAY, self.mg_per_day
        if self.usp_u_per_day is None:  # pragma: no cover - _one_basis guarantees one basis
            raise ValueError("no dose basis given")
        return DoseBasis.USP_U_PER_DAY, self.usp_u_per_day


class FillComponentEntry(_Request):
    """One drug in the fill: an amount, a concentration, or a dose the service turns into both.

    Vehicles (saline, water, glycerin) need none of them; they make up the rest of the fill.
    """

    drug_id: str
    amount_mg: Annotated[MassMg, _within(bounds.MASS_MG)] | None = None
    amount_usp_u: Annotated[ActivityUspU, _within(bounds.ACTIVITY_USP_U)] | None = None
    conc_mg_per_ml: ConcMgPerMl | None = Field(None, gt=0)
    conc_usp_u_per_ml: ConcUspUPerMl | None = Field(None, gt=0)
    dose: DoseEntry | None = None
    stock_concentration: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="vial strength, mg/mL or USP_U/mL: one of the catalogue's strengths unless compounded",
    )
    ndc: str | None = Field(None, pattern=r"^[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}$|^[0-9]{10,11}$")
    lot: str | None = Field(None, min_length=1, max_length=40)
    expires_on: IsoDate | None = None
    # What billing needs to know about the container the amount came from.
    container: ContainerKind | None = Field(None, description="single- or multi-dose; default by drug (heparin multi)")
    opened_mg: MassMg | None = Field(None, description="whole single-dose containers opened (waste = opened - used)")
    opened_usp_u: ActivityUspU | None = None
    supplied_by: SuppliedBy = SuppliedBy.PRACTICE
    compounded: bool = False
    purpose: DrugPurpose = DrugPurpose.THERAPEUTIC
    invoice_ref: str | None = Field(None, max_length=40, description="compounding pharmacy invoice")

    @field_validator("drug_id")
    @classmethod
    def _known_drug(cls, value: str) -> str:
        get_drug(value)
        return value

    @model_validator(mode="after")
    def _one_quantity(self) -> "FillComponentEntry":
        given = [
            name
            for name in ("amount_mg", "amount_usp_u", "conc_mg_per_ml", "conc_usp_u_per_ml", "dose")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give one of amount, concentration or dose, not {', '.join(given)}")
        drug = get_drug(self.drug_id)
        unit = drug.concentration_unit
        if unit is None and given:
            raise ValueError(f"{drug.name} is a vehicle: it takes no amount, concentration or dose")
        if unit is not None and not given:
            raise ValueError(f"{drug.name} needs an amount, a concentration or a dose")
        wrong = {"mg/mL": ("amount_usp_u", "conc_usp_u_per_ml"), "USP_U/mL": ("amount_mg", "conc_mg_per_ml")}
        if unit is not None and any(name in wrong[unit] for name in given):
            raise ValueError(f"{drug.name} is measured in {unit.split('/')[0]}")
        self._check_strengths(drug.stock_concentrations, drug.max_concentration, unit or "")
        return self

    def _check_strengths(self, strengths: tuple[float, ...], strongest: float | None, unit: str) -> None:
        """Stock and mixed concentrations must be ones the catalogue knows (a compounded stock: up to the strongest)."""
        listed = ", ".join(f"{s:g}" for s in strengths)
        for name in ("conc_mg_per_ml", "conc_usp_u_per_ml", "stock_concentration"):
            value = getattr(self, name)
            if value is None or strongest is None:
                continue
            if value > strongest * (1 + 1e-9):
                raise ValueError(
                    f"{name} {value:g} {unit} is above the strongest strength of {self.drug_id} "
                    f"({strongest:g} {unit}; the catalogue has {listed})"
                )
        stock = self.stock_concentration
        if stock is not None and not self.compounded and not any(abs(stock - s) <= 1e-9 * s for s in strengths):
            raise ValueError(
                f"stock_concentration {stock:g} {unit} is not a strength of {self.drug_id} ({listed} {unit}); "
                "a compounded stock says compounded: true"
            )


class BillingEntry(_Request):
    """The facts billing needs about who did what, where, for whom (defaults from the settings)."""

    performer_role: PerformerRole = PerformerRole.CLINICAL_STAFF
    performer_id: str | None = Field(None, pattern=_REF, description="default: the acting user")
    supervising_id: str | None = Field(None, pattern=_REF)
    place_of_service: str | None = Field(None, pattern=r"^[0-9]{2}$", description="CMS POS; default from settings")
    payer_profile: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{1,40}$", description="default from settings")
    diagnoses: tuple[Annotated[str, Field(max_length=10)], ...] = Field(
        (), max_length=12, description="ICD-10-CM codes"
    )
    imaging_guidance: ImagingGuidance = ImagingGuidance.NONE
    chemo_cycle_initiated_today: bool = False
    port_flush_only: bool = False
    separate_em: EmService | None = None
    documentation: tuple[Documentation, ...] = Field((), max_length=len(Documentation))
    distinct_service_documented: bool = False
    refill_kit_lot: str | None = Field(None, max_length=40, description="the refill kit (A4220) used")


def _said_something(reason: str) -> str:
    """Ten spaces pass ``min_length``; they are no reason (kept as typed: it is part of the request's digest)."""
    if len(reason.strip()) < 10:
        raise ValueError("an override's reason says why, in at least 10 characters other than spaces")
    return reason


# Why a clinician goes ahead despite a hard stop: at least 10 characters of text, not of spaces.
OverrideReason = Annotated[
    str, Field(min_length=10, max_length=500, description="why the refill goes ahead"), AfterValidator(_said_something)
]


class OverrideEntry(_Request):
    """The acting physician goes ahead despite the named hard stops, for a stated reason.

    The override is the signed-in user's own (a role that may override hard stops); anyone else
    has a physician co-sign it on the station (``POST /pumps/{serial}/cosignatures``) and sends
    the co-signature's id in ``cosignatures`` instead.
    """

    reason: OverrideReason
    codes: tuple[FindingCode, ...] = Field(min_length=1, max_length=20, description="the hard stops overridden")


class RefillEntry(_Request):
    """What the nurse measured and put in at a refill."""

    performed_at: UtcDatetime
    returned_volume_ml: Annotated[VolumeMl, _within(bounds.RETURNED_VOLUME_ML)]
    syringe_resolution_ml: Annotated[VolumeMl, _within(bounds.SYRINGE_RESOLUTION_ML)] | None = None
    fill_volume_ml: Annotated[VolumeMl, _within(bounds.FILL_VOLUME_ML)]
    components: tuple[FillComponentEntry, ...] = Field(min_length=1, max_length=20)
    body_mass_kg: PlausibleBodyMassKg | None = None
    idempotency_key: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{8,80}$")
    override: OverrideEntry | None = Field(
        None,
        description="the acting physician's own override of the visit's hard stops; part of the request, so a "
        "retry carries it",
    )
    cosignatures: tuple[int, ...] = Field(
        (),
        max_length=8,
        description="ids of co-signatures (a physician's override, a second person's check) signed for this fill",
    )
    expected_pump_version: int | None = Field(
        None,
        ge=0,
        le=2**62,
        description="the pump's version when the form was loaded: a pump changed since is a conflict (409)",
    )
    prescription: Prescription | None = Field(
        None, description="programmable pumps: a new prescription written with the refill (a dose change)"
    )
    billing: BillingEntry = Field(default_factory=BillingEntry)

    @field_validator("cosignatures")
    @classmethod
    def _distinct(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a co-signature is listed twice")
        if any(not 0 < v < 2**62 for v in value):
            raise ValueError("co-signature ids are positive integers")
        return value


class ConditionEntry(_Request):
    """From ``start_at`` on, the pump is under these conditions (until the next entry)."""

    start_at: UtcDatetime
    body_temperature_c: TemperatureDegC = Field(37.0, ge=30, le=45)
    ambient_pressure_mmhg: PressureMmHg | None = Field(None, gt=100, le=3000)
    altitude_m: AltitudeM | None = Field(None, ge=-500, le=9000)
    relative_viscosity: float | None = Field(None, gt=0, le=100)
    note: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _pressure_or_altitude(self) -> "ConditionEntry":
        if self.ambient_pressure_mmhg is not None and self.altitude_m is not None:
            raise ValueError("give ambient_pressure_mmhg or altitude_m, not both")
        return self


class PumpReplacement(PumpRegistration):
    """The pump that replaces an explanted one: its own serial, model and route, the same patient.

    ``implanted_at`` is when the new pump went in (and the old one came out; default now).
    """

    reason: str = Field(min_length=1, max_length=200, description="why the pump was replaced, e.g. 'ERI'")

    @model_validator(mode="after")
    def _same_patient(self) -> "PumpReplacement":
        if self.patient_ref is not None:
            raise ValueError("the replacement belongs to the explanted pump's patient: give no patient_ref")
        return self


class ModelCorrection(_Request):
    """A pump registered under the wrong model (same family): the right one, and why."""

    model_id: str
    reason: str = Field(min_length=1, max_length=200)
    nominal_rate_ml_per_day: RateMlPerDay | None = Field(
        None, gt=0, description="constant-flow: the unit's labelled rate, if the registered one was also wrong"
    )

    @field_validator("model_id")
    @classmethod
    def _known_model(cls, value: str) -> str:
        get_pump_model(value)
        return value


# ---- results -------------------------------------------------------------------------------


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class ComponentResult(_Result):
    drug_id: str
    drug_name: str
    volume_ml: float
    amount_mg: float | None
    amount_usp_u: float | None
    conc_mg_per_ml: float | None
    conc_usp_u_per_ml: float | None
    daily_dose: str | None = Field(description="daily dose delivered at the dosing rate (the prescribed dose)")
    max_daily_dose: str | None = Field(
        description="daily dose at the planning rate: with every allowed patient bolus taken (what the guard judges)"
    )
    ndc: str | None
    lot: str | None
    expires_on: date | None


class DueConstraintResult(_Result):
    reason: str
    due_at: UtcDatetime


class FindingResult(_Result):
    code: FindingCode
    tier: str = Field(description="info, warning or hard_stop")
    message: str
    figures: dict[str, float | str | None]
    field: str | None


class OverrideResult(_Result):
    clinician_id: str = Field(description="the account that overrode (the acting physician or the co-signer)")
    role: str = Field(description="that account's role")
    reason: str
    codes: tuple[FindingCode, ...]
    cosignature_id: int | None = None
    signed_at: UtcDatetime | None = None


class CosignatureBrief(_Result):
    """A co-signature a refill used: who signed it, in which role, where, when, and what they signed."""

    cosignature_id: int
    kind: str = Field(description="hard_stop_override or second_check")
    signer: str
    signer_role: str
    station_id: str
    signed_at: UtcDatetime
    payload: dict[str, float | str | list[str] | None]


class AppointmentBrief(_Result):
    appointment_id: int
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    on_time: bool = Field(description="false: no slot before the due date or the alarm (escalated)")


class ChargeLine(_Result):
    event_id: str
    code: str
    modifiers: tuple[str, ...]
    units: int
    status: str


class RefillResult(_Result):
    """A recorded refill with the figures the nurse needs to see."""

    refill_id: int
    pump_serial: str
    performed_at: UtcDatetime
    replayed: bool = Field(description="true when this request had already been recorded")
    simulated: bool = Field(False, description="recorded through a test bench's simulated programmer, not a real pump")
    previous_fill_at: UtcDatetime | None
    previous_fill_volume_ml: float | None
    returned_volume_ml: float
    fill_volume_ml: float
    elapsed_days: float | None
    expected_residual_ml: float | None
    expected_rate_ml_per_day: float | None
    measured_rate_ml_per_day: float | None
    deviation_pct: float | None
    volume_delta_ml: float | None
    flow_class: str | None
    likely_causes: tuple[str, ...]
    findings: tuple[FindingResult, ...] = Field(description="info, warnings and (overridden) hard stops")
    warnings: tuple[str, ...] = Field(description="the warning and hard-stop findings as 'code: message'")
    override: OverrideResult | None
    cosignatures: tuple[CosignatureBrief, ...] = Field((), description="co-signatures the refill used")
    components: tuple[ComponentResult, ...]
    planning_rate_ml_per_day: float
    planning_rate_source: str = Field(description="model, measured or prescription")
    dosing_rate_ml_per_day: float
    alarm_at: UtcDatetime | None = Field(description="forecast low-reservoir alarm (or residual floor)")
    empty_at: UtcDatetime | None
    next_due_at: UtcDatetime
    next_due_reason: str
    due_constraints: tuple[DueConstraintResult, ...]
    appointment: AppointmentBrief | None = Field(description="the appointment booked for the next refill")
    charges: tuple[ChargeLine, ...] = Field(description="the visit's charge events")


class PumpView(_Result):
    serial: str
    model_id: str
    model_name: str
    family: str
    route: str
    patient_ref: str | None
    capacity_ml: float
    nominal_rate_ml_per_day: float | None
    implanted_at: UtcDatetime | None
    last_fill_at: UtcDatetime | None
    last_fill_volume_ml: float | None
    reservoir_ml: float | None = Field(description="last fill, or last reading from the pump")
    reservoir_at: UtcDatetime | None
    estimated_reservoir_ml: float | None = Field(description="projected to now at the planning rate")
    measured_rate_ml_per_day: float | None
    planning_rate_ml_per_day: float | None
    battery_state: str | None
    months_to_eri: int | None
    clock_drift_s: float | None
    alarms: tuple[dict[str, str], ...]
    next_due_at: UtcDatetime | None
    next_due_reason: str | None
    state: PumpState = PumpState.ACTIVE
    explanted_at: UtcDatetime | None = None
    explant_reason: str | None = None
    replaces_serial: str | None = Field(None, description="the explanted pump this one replaced")
    replaced_by_serial: str | None = Field(None, description="the pump that replaced this one")
    version: int


class ReplacementResult(_Result):
    explanted: PumpView
    replacement: PumpView
    closed_appointments: tuple[int, ...] = Field(description="the explanted pump's bookings, now cancelled")


class DueItem(_Result):
    serial: str
    model_id: str
    patient_ref: str | None
    next_due_at: UtcDatetime
    next_due_reason: str | None
    overdue: bool
    days_until_due: float


class PlannedComponentResult(_Result):
    drug_id: str
    drug_name: str
    volume_ml: float
    amount: float | None = Field(description="mg, or USP units for heparin")
    concentration: float | None = Field(description="mg/mL, or USP units/mL")
    daily_dose: str | None
    max_daily_dose: str | None


class RefillPlanView(_Result):
    """A refill as it would be recorded now: figures and findings, nothing stored or written."""

    pump_serial: str
    performed_at: UtcDatetime
    committable: bool = Field(description="false: hard stops need a clinician's override first")
    unresolved: tuple[FindingCode, ...] = Field(description="hard stops the request's override does not cover")
    findings: tuple[FindingResult, ...]
    expected_residual_ml: float | None
    measured_rate_ml_per_day: float | None
    deviation_pct: float | None
    flow_class: str | None
    planning_rate_ml_per_day: float
    planning_rate_source: str
    dosing_rate_ml_per_day: float
    components: tuple[PlannedComponentResult, ...]
    alarm_at: UtcDatetime | None
    empty_at: UtcDatetime | None
    next_due_at: UtcDatetime
    next_due_reason: str
