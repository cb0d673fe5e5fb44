"""The refill plan: every figure and finding of a refill, computed once from the request and the pump.

:func:`plan_refill` takes what the nurse entered (:class:`FillRequest`), what is known of the pump
(:class:`PumpSnapshot`) and, for a programmable pump, what its register said before the refill
(:class:`RegisterReading`), and returns a :class:`RefillPlan`: the return check, the planning
rate, the fill's components with the dose they deliver, the reservoir forecast, the due date and
the findings. The dry run shows it, the visit writes the pump from it and the commit stores it;
nothing is computed a second time.

Order matters: bounds and impossible input are refused first (:class:`RuleViolationError`), then
the return is judged, then the planning rate is chosen (a flow outside the band never becomes
it), then the fill is dosed at that rate, so the dose shown is the dose delivered.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from pump_service.domain.bounds import (
    BODY_MASS_KG,
    DUPLICATE_WINDOW,
    FILL_VOLUME_ML,
    MIN_FILL_ML,
    SHORT_INTERVAL,
)
from pump_service.domain.dose_guards import judge_doses
from pump_service.domain.dosing import plan_dose
from pump_service.domain.due import DueDate, DueReason, next_refill_due
from pump_service.domain.findings import Finding, FindingCode, HardStopError, Tier, unresolved_hard_stops
from pump_service.domain.planning_rate import PlanningRate, RateSource, planning_rate
from pump_service.domain.refill_inputs import (
    ComponentRequest,
    FillRequest,
    PlannedComponent,
    PlanPolicy,
    PumpSnapshot,
    RegisterReading,
)
from pump_service.domain.reservoir import ReservoirForecast, forecast_reservoir
from pump_service.domain.residual import ConditionPeriod
from pump_service.domain.return_check import ReturnAssessment
from pump_service.domain.return_findings import (
    BAND_CODES,
    assess,
    judge_constant_flow,
    judge_programmable,
    register_findings,
)
from pump_service.errors import RuleViolationError
from schemas.drug import AmountBasis, DoseBasis, Drug
from schemas.flow_law import FlowConditions
from schemas.pump import PumpFamily

__all__ = [
    "ComponentRequest",
    "FillRequest",
    "PlanPolicy",
    "PlannedComponent",
    "PumpSnapshot",
    "RefillPlan",
    "RegisterReading",
    "plan_refill",
]

# A refill dated slightly ahead of the server (station clocks differ) is accepted; more is a typo.
FUTURE_TOLERANCE = timedelta(minutes=5)
VOLUME_TOLERANCE_ML = 1e-6


@dataclass(frozen=True, slots=True)
class RefillPlan:
    pump: PumpSnapshot
    request: FillRequest
    assessment: ReturnAssessment | None
    rate: PlanningRate
    flow_ratio: float | None  # what the pump's stored ratio becomes
    fill_conditions: FlowConditions
    components: tuple[PlannedComponent, ...]
    forecast: ReservoirForecast
    due: DueDate
    findings: tuple[Finding, ...]
    body_mass_kg: float | None
    register: RegisterReading | None = None
    stabilities: tuple[float | None, ...] = field(default=())
    infusate_changed: bool = False  # the fill's viscosity differs from the conditions in force

    @property
    def pump_serial(self) -> str:
        return self.pump.serial

    @property
    def pump_version(self) -> int:
        return self.pump.version

    def with_findings(self, extra: Sequence[Finding]) -> "RefillPlan":
        """The plan with findings judged outside the domain's inputs (a second person's check) added."""
        return replace(self, findings=_ordered([*self.findings, *extra])) if extra else self

    def with_register(self, register: RegisterReading) -> "RefillPlan":
        """The plan judged against the programmable pump's register, read once the programmer answered.

        The register replaces the expected-residual band (it counts the boluses the patient took),
        so the band's findings give way to the register's; nothing else is recomputed.
        """
        kept = [f for f in self.findings if f.code not in BAND_CODES]
        kept.extend(register_findings(self.pump, self.request, register))
        return replace(self, register=register, findings=_ordered(kept))

    @property
    def unresolved(self) -> tuple[Finding, ...]:
        return unresolved_hard_stops(self.findings, self.request.override)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.tier is Tier.WARNING)

    def require_committable(self) -> None:
        """Raises: HardStopError: a hard stop the request's override does not cover."""
        unresolved = self.unresolved
        if unresolved:
            raise HardStopError(unresolved, self.findings)


def plan_refill(
    pump: PumpSnapshot,
    request: FillRequest,
    *,
    policy: PlanPolicy,
    now: datetime,
    register: RegisterReading | None = None,
) -> RefillPlan:
    """Check, judge and plan the refill (see the module docstring).

    Raises:
        RuleViolationError: a value outside its bound or an impossible refill (nothing planned).
    """
    findings: list[Finding] = []
    model = pump.model
    _check_times(pump, request, now, findings)
    _check_volumes(pump, request)
    body_mass = request.body_mass_kg if request.body_mass_kg is not None else pump.patient_body_mass_kg
    if body_mass is not None:
        BODY_MASS_KG.check(body_mass, "body_mass_kg")
    _check_drugs(pump, request, policy, findings)

    assessment = assess(pump, request, policy)
    flow_ratio = pump.flow_ratio
    if assessment is not None:
        if model.family is PumpFamily.CONSTANT_FLOW:
            flow_ratio = judge_constant_flow(assessment, request, flow_ratio, findings)
        else:
            judge_programmable(assessment, pump, request, register, findings)
    else:
        findings.append(Finding(FindingCode.FIRST_FILL, Tier.INFO, "first fill recorded here: no return to compare"))
        if register is not None:
            findings.extend(register_findings(pump, request, register))

    fill_conditions = _fill_conditions(pump.periods, request.performed_at, request.components)
    in_force = [p for p in pump.periods if p.start_at <= request.performed_at]
    previous_viscosity = in_force[-1].conditions.relative_viscosity if in_force else 1.0
    rate = _planning_rate(pump, request, fill_conditions, flow_ratio)
    if rate.source is RateSource.MEASURED:
        findings.append(
            Finding(
                FindingCode.PLANNED_AT_MEASURED_FLOW,
                Tier.INFO,
                f"planned at {rate.rate_ml_per_day:.3f} mL/day: the unit ran {100 * ((flow_ratio or 1) - 1):.1f} % "
                "faster than its corrected rate last time",
                {"planning_rate_ml_per_day": rate.rate_ml_per_day, "flow_ratio": flow_ratio},
            )
        )
    components = _plan_components(request, rate, body_mass)
    findings.extend(judge_doses(components, rate, body_mass))

    stabilities = tuple(_stability_days(c.drug, pump, components) for c in components)
    forecast = forecast_reservoir(
        volume_ml=request.fill_volume_ml,
        at=request.performed_at,
        daily_volume_ml=rate.rate_ml_per_day,
        low_reservoir_ml=model.low_reservoir_ml,
        near_empty_ml=model.near_empty_ml,
    )
    due = next_refill_due(
        filled_at=request.performed_at,
        forecast=forecast,
        safety_margin_days=policy.safety_margin_days,
        stability_days=stabilities,
        protocol_interval_days=model.protocol_interval_days,
        max_interval_days=model.max_interval_days,
    )
    if due.due_at <= request.performed_at:
        raise RuleViolationError(
            f"a {request.fill_volume_ml:g} mL fill at {rate.rate_ml_per_day:.3g} mL/day reaches the "
            f"{model.low_reservoir_ml:g} mL alarm volume within the {policy.safety_margin_days:g}-day safety margin: "
            "fill more",
            field="fill_volume_ml",
        )
    if due.reason is DueReason.DRUG_STABILITY:
        findings.append(
            Finding(
                FindingCode.STABILITY_CAP,
                Tier.INFO,
                "the drug's in-pump stability, not the reservoir, limits this interval",
                {"stability_days": min(d for d in stabilities if d is not None)},
            )
        )
    return RefillPlan(
        pump=pump,
        request=request,
        assessment=assessment,
        rate=rate,
        flow_ratio=flow_ratio,
        fill_conditions=fill_conditions,
        components=components,
        forecast=forecast,
        due=due,
        findings=_ordered(findings),
        body_mass_kg=body_mass,
        register=register,
        stabilities=stabilities,
        infusate_changed=previous_viscosity != fill_conditions.relative_viscosity,
    )


_TIER_ORDER = {Tier.HARD_STOP: 0, Tier.WARNING: 1, Tier.INFO: 2}


def _ordered(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """Hard stops first, then warnings, then information; stable within a tier."""
    return tuple(sorted(findings, key=lambda f: _TIER_ORDER[f.tier]))


# ---- input checks ---------------------------------------------------------------------------


def _check_times(pump: PumpSnapshot, request: FillRequest, now: datetime, findings: list[Finding]) -> None:
    at = request.performed_at
    if at > now + FUTURE_TOLERANCE:
        raise RuleViolationError(f"performed_at {at.isoformat()} is in the future", field="performed_at")
    if pump.implanted_at is not None and at < pump.implanted_at:
        raise RuleViolationError("performed_at is before the pump was implanted", field="performed_at")
    last = pump.last_fill_at
    if last is None:
        return
    if at <= last:
        raise RuleViolationError(
            f"performed_at must be after the previous fill ({last.isoformat()})", field="performed_at"
        )
    since = at - last
    if since < DUPLICATE_WINDOW:
        minutes = int(since.total_seconds() // 60)
        raise RuleViolationError(
            f"a refill {minutes} min after the previous one ({last.isoformat()}) is the same refill "
            "entered twice: retry it with its idempotency key",
            field="performed_at",
        )
    hours = since.total_seconds() / 3600
    if since < SHORT_INTERVAL:
        findings.append(
            Finding(
                FindingCode.REFILL_INTERVAL_SHORT,
                Tier.HARD_STOP,
                f"only {hours:.1f} h since the previous fill: the flow cannot be measured over so short a time; "
                "a refill this soon needs a clinician's reason",
                {"hours_since_last_fill": round(hours, 2), "minimum_hours": SHORT_INTERVAL.total_seconds() / 3600},
                "performed_at",
            )
        )
    longest = pump.model.max_interval_days
    if since.total_seconds() / 86_400 > longest:
        findings.append(
            Finding(
                FindingCode.REFILL_INTERVAL_LONG,
                Tier.WARNING,
                f"{since.total_seconds() / 86_400:.1f} days since the previous fill, more than the model's "
                f"{longest:g}-day maximum: the pump may have run dry",
                {"days_since_last_fill": round(since.total_seconds() / 86_400, 2), "max_interval_days": longest},
                "performed_at",
            )
        )


def _check_volumes(pump: PumpSnapshot, request: FillRequest) -> None:
    capacity = pump.model.capacity_ml
    resolution = request.syringe_resolution_ml or 0.0
    FILL_VOLUME_ML.check(request.fill_volume_ml, "fill_volume_ml")
    least = max(MIN_FILL_ML, resolution)
    if request.fill_volume_ml < least:
        raise RuleViolationError(
            f"fill volume {request.fill_volume_ml:g} mL is below {least:g} mL (the syringe graduation or "
            "the smallest fill)",
            field="fill_volume_ml",
        )
    if request.fill_volume_ml > capacity + VOLUME_TOLERANCE_ML:
        raise RuleViolationError(
            f"fill volume {request.fill_volume_ml:g} mL exceeds the {capacity:g} mL reservoir "
            f"(allowed {least:g} to {capacity:g} mL)",
            field="fill_volume_ml",
        )
    previous = pump.last_fill_volume_ml
    ceiling = capacity if previous is None else previous
    if request.returned_volume_ml > ceiling + resolution + VOLUME_TOLERANCE_ML:
        what = f"the {previous:g} mL that was filled" if previous is not None else f"the {capacity:g} mL reservoir"
        raise RuleViolationError(
            f"returned volume {request.returned_volume_ml:g} mL is more than {what} (allowed 0 to {ceiling:g} mL)",
            field="returned_volume_ml",
        )


def _check_drugs(pump: PumpSnapshot, request: FillRequest, policy: PlanPolicy, findings: list[Finding]) -> None:
    local_day = request.performed_at.astimezone(policy.zone).date()
    for i, component in enumerate(request.components):
        drug = component.drug
        if pump.route not in drug.routes:
            findings.append(
                Finding(
                    FindingCode.DRUG_ROUTE,
                    Tier.HARD_STOP,
                    f"{drug.name} is not for {pump.route.value} delivery (allowed: "
                    f"{', '.join(r.value for r in drug.routes)})",
                    {"drug_id": drug.drug_id, "route": pump.route.value},
                    f"components.{i}.drug_id",
                )
            )
        if component.expires_on is not None and component.expires_on < local_day:
            findings.append(
                Finding(
                    FindingCode.DRUG_EXPIRED,
                    Tier.HARD_STOP,
                    f"{drug.name} lot {component.lot or '?'} expired on {component.expires_on.isoformat()}",
                    {"drug_id": drug.drug_id, "expires_on": component.expires_on.isoformat()},
                    f"components.{i}.expires_on",
                )
            )
        stock = component.stock_concentration
        if stock is not None and drug.max_concentration is not None and stock > drug.max_concentration * (1 + 1e-9):
            raise RuleViolationError(
                f"stock concentration {stock:g} {drug.concentration_unit} of {drug.name} is above its strongest "
                f"strength {drug.max_concentration:g} {drug.concentration_unit}",
                field=f"components.{i}.stock_concentration",
            )


# ---- the fill --------------------------------------------------------------------------------


def _fill_conditions(
    periods: Sequence[ConditionPeriod], at: datetime, components: Sequence[ComponentRequest]
) -> FlowConditions:
    """Conditions from the fill on: the body as last recorded, the new infusate's viscosity."""
    current = [p for p in periods if p.start_at <= at]
    base = current[-1].conditions if current else FlowConditions()
    viscosity = max(
        (c.drug.relative_viscosity for c in components if c.drug.amount_basis is AmountBasis.VEHICLE), default=1.0
    )
    return base.model_copy(update={"relative_viscosity": viscosity})


def _planning_rate(
    pump: PumpSnapshot, request: FillRequest, conditions: FlowConditions, flow_ratio: float | None
) -> PlanningRate:
    if pump.model.family is PumpFamily.CONSTANT_FLOW:
        return planning_rate(
            pump.model,
            nominal_rate_ml_per_day=pump.nominal_rate_ml_per_day,
            conditions=conditions,
            flow_ratio=flow_ratio,
        )
    new_rx = request.new_basal_ml_per_day is not None
    allowance = request.new_bolus_allowance_ml_per_day
    return planning_rate(
        pump.model,
        basal_ml_per_day=request.new_basal_ml_per_day if new_rx else pump.basal_ml_per_day,
        # HPP/1 prescriptions carry no allowance: a new prescription keeps the registered one.
        bolus_allowance_ml_per_day=allowance if new_rx and allowance is not None else pump.bolus_allowance_ml_per_day,
    )


def _plan_components(request: FillRequest, rate: PlanningRate, body_mass: float | None) -> tuple[PlannedComponent, ...]:
    fill = request.fill_volume_ml
    planned: list[PlannedComponent] = []
    vehicles: list[tuple[int, Drug]] = []
    for i, component in enumerate(request.components):
        if component.drug.amount_basis is AmountBasis.VEHICLE:
            vehicles.append((i, component.drug))
        else:
            planned.append(_plan_drug(i, component, fill, rate, body_mass))
    drug_volume = sum(p.volume_ml for p in planned)
    if drug_volume > fill + VOLUME_TOLERANCE_ML:
        raise RuleViolationError(
            f"the drugs take {drug_volume:.2f} mL, more than the {fill:g} mL fill", field="components"
        )
    remainder = max(0.0, fill - drug_volume)
    if vehicles:
        share = remainder / len(vehicles)
        planned.extend(PlannedComponent(i, drug, share, None, None, None, None) for i, drug in vehicles)
    elif remainder > 0.05 * fill and planned:
        # Stock alone rarely fills the pump; without a diluent the concentration would be wrong.
        raise RuleViolationError(
            f"{remainder:.2f} mL of the fill is unaccounted for: add the diluent (saline, water)", field="components"
        )
    return tuple(sorted(planned, key=lambda p: p.index))


def _plan_drug(
    index: int, component: ComponentRequest, fill_ml: float, rate: PlanningRate, body_mass: float | None
) -> PlannedComponent:
    drug, field_name = component.drug, f"components.{index}"
    if component.dose is not None:
        basis, value = component.dose
        if basis is DoseBasis.MG_PER_KG_PER_DAY and body_mass is None:
            raise RuleViolationError("a mg/kg/day dose needs the patient's body mass", field="body_mass_kg")
        try:
            dose_plan = plan_dose(
                drug=drug,
                dose=value,
                dose_basis=basis,
                rate_ml_per_day=rate.dosing_rate_ml_per_day,
                fill_volume_ml=fill_ml,
                body_mass_kg=body_mass,
                stock_concentration=component.stock_concentration,
            )
        except RuleViolationError as exc:
            raise RuleViolationError(str(exc), field=f"{field_name}.{exc.field or 'dose'}") from exc
        amount, concentration, volume = dose_plan.amount, dose_plan.concentration, dose_plan.stock_volume_ml or 0.0
    else:
        amount = component.amount if component.amount is not None else (component.concentration or 0.0) * fill_ml
        concentration = amount / fill_ml
        stocks = (component.stock_concentration,) if component.stock_concentration else drug.stock_concentrations
        fitting = [s for s in sorted(stocks) if amount / s <= fill_ml + VOLUME_TOLERANCE_ML]
        if stocks and not fitting:
            raise RuleViolationError(
                f"{amount:g} {'mg' if drug.amount_basis is AmountBasis.MASS else 'USP units'} of {drug.name} does not "
                f"fit in a {fill_ml:g} mL fill even at {max(stocks):g} per mL",
                field=field_name,
            )
        volume = amount / fitting[0] if fitting else 0.0
    if drug.max_concentration is not None and concentration > drug.max_concentration * (1 + 1e-9):
        raise RuleViolationError(
            f"{drug.name} at {concentration:.4g} {drug.concentration_unit} is above its strongest strength "
            f"{drug.max_concentration:g} {drug.concentration_unit}: it cannot be mixed",
            field=field_name,
        )
    daily = concentration * rate.dosing_rate_ml_per_day if rate.dosing_rate_ml_per_day > 0 else None
    most = concentration * rate.rate_ml_per_day if rate.rate_ml_per_day > 0 else None
    return PlannedComponent(index, drug, volume, amount, concentration, daily, most)


def _stability_days(drug: Drug, pump: PumpSnapshot, components: Sequence[PlannedComponent]) -> float | None:
    """The drug's in-pump stability for this fill: a naive pump's first fill, diluted or undiluted."""
    first_fill = drug.stability_days_first_fill
    if first_fill is not None and drug.drug_id not in pump.drugs_in_pump:
        return first_fill
    undiluted = drug.stability_days_undiluted
    diluted = any(c.drug.amount_basis is AmountBasis.VEHICLE and c.volume_ml > VOLUME_TOLERANCE_ML for c in components)
    if undiluted is not None and not diluted:
        return undiluted
    return drug.stability_days
