"""Record a refill: check the return, work out the fill, book the next due date, all at once.

Everything a refill changes (the refill and its components, the pump's state, a device-log
entry, a condition period for a viscous fill, the next due date) is written in the caller's
transaction, so it lands together or not at all. A request carries an idempotency key (derived
from its content when the client gives none): a retry returns the recorded refill instead of
recording it twice, and reusing a key for different content is a conflict.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from pump_service.domain.dosing import DoseWarning, plan_dose
from pump_service.domain.due import DueDate, DueReason, next_refill_due
from pump_service.domain.reservoir import ReservoirForecast, forecast_reservoir
from pump_service.domain.residual import ConditionPeriod
from pump_service.errors import ConflictError, RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import (
    ConditionPeriodRow,
    DeviceLogRecord,
    Patient,
    Pump,
    Refill,
    RefillComponent,
)
from pump_service.services.actor import Actor
from pump_service.services.contracts import (
    FillComponentEntry,
    RefillEntry,
    RefillResult,
)
from pump_service.services.pumps.registry import get_pump
from pump_service.services.scheduling.booking import book_next_refill, complete_appointment
from pump_service.services.visits.refill_views import refill_result
from pump_service.services.visits.return_expectation import assess_refill_return, basal_rate, condition_periods_of
from pump_service.settings import Settings
from schemas.drug import AmountBasis, DoseBasis, Drug
from schemas.drug_catalogue import get_drug
from schemas.flow_law import FlowConditions
from schemas.pump import PumpFamily, PumpModel
from schemas.pump_catalogue import get_pump_model

__all__ = ["record_refill", "refill_key"]

# A refill dated slightly ahead of the server (station clocks differ) is accepted; more is a typo.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Two refills of one pump within an hour are one refill entered twice (a retry without its key).
MIN_REFILL_INTERVAL = timedelta(hours=1)
VOLUME_TOLERANCE_ML = 1e-6


@dataclass(frozen=True, slots=True)
class _PlannedComponent:
    drug: Drug
    entry: FillComponentEntry
    volume_ml: float
    amount: float | None  # mg or USP_U
    concentration: float | None  # mg/mL or USP_U/mL
    daily_amount: float | None


def refill_key(serial: str, entry: RefillEntry) -> tuple[str, str]:
    """The request's idempotency key (given, or derived from its content) and its content digest."""
    digest = _digest(serial, entry)
    return entry.idempotency_key or f"auto-{digest[:40]}", digest


def record_refill(
    session: Session,
    serial: str,
    entry: RefillEntry,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    extra_warnings: Sequence[str] = (),
    new_daily_volume_ml: float | None = None,
) -> RefillResult:
    """Record ``entry`` for pump ``serial`` in the caller's transaction and return the figures.

    ``extra_warnings`` come from outside the arithmetic (e.g. the programmer's post-refill reading).
    ``new_daily_volume_ml`` is the daily volume of a prescription written with this refill: the
    return is judged against the old prescription, the new fill is dosed and planned on the new one.

    Raises:
        NotFoundError: no such pump.
        ConflictError: the idempotency key was used for a different refill.
        RuleViolationError: impossible volumes or times, expired or unsuitable drug, a dose
            outside its guard without an override, or a fill that does not add up.
    """
    key, digest = refill_key(serial, entry)
    existing = repo.refill_by_key(session, key)
    if existing is not None:
        if existing.request_digest != digest:
            raise ConflictError(f"idempotency key {key} was already used for a different refill")
        return refill_result(session, existing, replayed=True)

    pump = get_pump(session, serial, for_update=True)
    assert pump.id is not None  # noqa: S101
    model = get_pump_model(pump.model_id)
    _check_times_and_volumes(pump, model, entry, now, settings)

    periods = condition_periods_of(session, pump.id)
    programmed = basal_rate(session, pump) if model.family is PumpFamily.PROGRAMMABLE else None
    assessment = assess_refill_return(pump, model, entry, periods, settings, programmed)
    body_mass = entry.body_mass_kg or _patient_mass(session, pump)
    base_rate = new_daily_volume_ml if new_daily_volume_ml is not None else _base_rate(session, pump, model)
    components = _plan_components(pump, model, entry, base_rate, body_mass)
    warnings = _dose_warnings(components, entry, body_mass)

    fill_conditions = _fill_conditions(periods, entry.performed_at, components)
    planning_rate = base_rate * model.flow_factor(fill_conditions)
    if assessment is not None and assessment.measured_rate_ml_per_day is not None and model.flow_law is not None:
        # A constant-flow pump that ran fast last time is planned at its measured speed.
        planning_rate = max(planning_rate, assessment.measured_rate_ml_per_day)
    due, forecast = _due(model, entry, planning_rate, components, settings)
    if due.reason is DueReason.DRUG_STABILITY:
        warnings.append("stability_cap: the drug's in-pump stability, not the reservoir, limits this interval")
    warnings.extend(extra_warnings)

    refill = Refill(
        idempotency_key=key,
        request_digest=digest,
        pump_id=pump.id,
        performed_at=entry.performed_at,
        previous_fill_at=pump.last_fill_at,
        previous_fill_volume_ml=pump.last_fill_volume_ml,
        returned_volume_ml=entry.returned_volume_ml,
        syringe_resolution_ml=entry.syringe_resolution_ml,
        fill_volume_ml=entry.fill_volume_ml,
        body_mass_kg=body_mass,
        elapsed_days=assessment.days if assessment else None,
        expected_residual_ml=assessment.expected_residual_ml if assessment else None,
        expected_rate_ml_per_day=assessment.expected_rate_ml_per_day if assessment else None,
        measured_rate_ml_per_day=assessment.measured_rate_ml_per_day if assessment else None,
        deviation_pct=assessment.deviation_pct if assessment else None,
        volume_delta_ml=assessment.volume_delta_ml if assessment else None,
        flow_class=assessment.flow_class.value if assessment else None,
        likely_causes=[c.value for c in assessment.likely_causes] if assessment else [],
        warnings=warnings,
        nothing_aspirated=assessment.nothing_aspirated if assessment else False,
        planning_rate_ml_per_day=planning_rate,
        next_due_at=due.due_at,
        next_due_reason=due.reason.value,
        due_constraints=[{"reason": c.reason.value, "due_at": c.due_at.isoformat()} for c in due.constraints],
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
    )
    session.add(refill)
    session.flush()
    assert refill.id is not None  # noqa: S101
    for planned in components:
        session.add(_component_row(refill.id, planned))
    if model.flow_law is not None:
        _record_viscosity_change(session, pump, periods, entry.performed_at, fill_conditions, actor, now)
    session.add(
        DeviceLogRecord(
            pump_id=pump.id,
            source="service",
            entry_type="REFILL_RECORDED",
            device_time_at=None,
            recorded_at=now,
            data={
                "refill_id": refill.id,
                "returned_volume_ml": entry.returned_volume_ml,
                "fill_volume_ml": entry.fill_volume_ml,
                "flow_class": refill.flow_class,
                "next_due_at": due.due_at.isoformat(),
            },
            actor=actor.user,
            station_id=actor.station_id,
        )
    )
    pump.last_fill_at = entry.performed_at
    pump.last_fill_volume_ml = entry.fill_volume_ml
    pump.reservoir_ml = entry.fill_volume_ml
    pump.reservoir_at = entry.performed_at
    if assessment is not None and assessment.measured_rate_ml_per_day is not None:
        pump.measured_rate_ml_per_day = assessment.measured_rate_ml_per_day
    pump.planning_rate_ml_per_day = planning_rate
    complete_appointment(session, pump, refill.id, actor=actor, now=now)
    book_next_refill(session, pump, due=due, forecast=forecast, settings=settings, actor=actor, now=now)
    pump.version += 1
    pump.updated_at = now
    pump.updated_by = actor.user
    session.add(pump)
    session.flush()
    return refill_result(session, refill)


def _digest(serial: str, entry: RefillEntry) -> str:
    content = entry.model_dump(mode="json", exclude={"idempotency_key"})
    blob = json.dumps({"serial": serial, "entry": content}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _check_times_and_volumes(
    pump: Pump, model: PumpModel, entry: RefillEntry, now: datetime, settings: Settings
) -> None:
    if entry.performed_at > now + FUTURE_TOLERANCE:
        raise RuleViolationError("performed_at is in the future", field="performed_at")
    if pump.last_fill_at is not None and entry.performed_at <= pump.last_fill_at:
        raise RuleViolationError(
            f"performed_at must be after the previous fill ({pump.last_fill_at.isoformat()})", field="performed_at"
        )
    if pump.last_fill_at is not None and entry.performed_at - pump.last_fill_at < MIN_REFILL_INTERVAL:
        minutes = int((entry.performed_at - pump.last_fill_at).total_seconds() // 60)
        raise RuleViolationError(
            f"a refill {minutes} min after the previous one ({pump.last_fill_at.isoformat()}) is the same refill "
            "entered twice: retry it with its idempotency key",
            field="performed_at",
        )
    if pump.implanted_at is not None and entry.performed_at < pump.implanted_at:
        raise RuleViolationError("performed_at is before the pump was implanted", field="performed_at")
    if entry.fill_volume_ml > model.capacity_ml + VOLUME_TOLERANCE_ML:
        raise RuleViolationError(
            f"fill volume {entry.fill_volume_ml:g} mL exceeds the {model.capacity_ml:g} mL reservoir",
            field="fill_volume_ml",
        )
    previous = pump.last_fill_volume_ml
    if previous is not None and entry.returned_volume_ml > previous + VOLUME_TOLERANCE_ML:
        raise RuleViolationError(
            f"returned volume {entry.returned_volume_ml:g} mL is more than the {previous:g} mL that was filled",
            field="returned_volume_ml",
        )
    local_day = entry.performed_at.astimezone(settings.zone).date()
    for i, component in enumerate(entry.components):
        if component.expires_on is not None and component.expires_on < local_day:
            raise RuleViolationError(
                f"{component.drug_id} lot {component.lot or '?'} expired on {component.expires_on.isoformat()}",
                field=f"components.{i}.expires_on",
            )


def _patient_mass(session: Session, pump: Pump) -> float | None:
    if pump.patient_id is None:
        return None
    patient = session.get(Patient, pump.patient_id)
    return patient.body_mass_kg if patient else None


def _base_rate(session: Session, pump: Pump, model: PumpModel) -> float:
    """Flow at reference conditions: a constant-flow unit's labelled rate, or the prescription's mean."""
    if model.family is PumpFamily.CONSTANT_FLOW:
        return pump.nominal_rate_ml_per_day or model.nominal_rate_ml_per_day or 0.0
    assert pump.id is not None  # noqa: S101
    rx = repo.current_prescription(session, pump.id)
    return rx.daily_volume_ml if rx is not None else 0.0


def _plan_components(
    pump: Pump, model: PumpModel, entry: RefillEntry, rate: float, body_mass: float | None
) -> list[_PlannedComponent]:
    planned: list[_PlannedComponent] = []
    vehicles: list[tuple[int, FillComponentEntry, Drug]] = []
    for i, component in enumerate(entry.components):
        drug = get_drug(component.drug_id)
        if pump.route not in {r.value for r in drug.routes}:
            raise RuleViolationError(f"{drug.name} is not for {pump.route} delivery", field=f"components.{i}.drug_id")
        if drug.amount_basis is AmountBasis.VEHICLE:
            vehicles.append((i, component, drug))
            continue
        planned.append(_plan_drug(i, drug, component, entry.fill_volume_ml, rate, body_mass))
    drug_volume = sum(p.volume_ml for p in planned)
    if drug_volume > entry.fill_volume_ml + VOLUME_TOLERANCE_ML:
        raise RuleViolationError(
            f"the drugs take {drug_volume:.2f} mL, more than the {entry.fill_volume_ml:g} mL fill", field="components"
        )
    remainder = max(0.0, entry.fill_volume_ml - drug_volume)
    if vehicles:
        share = remainder / len(vehicles)
        planned.extend(_PlannedComponent(drug, c, share, None, None, None) for _, c, drug in vehicles)
    elif remainder > 0.05 * entry.fill_volume_ml and planned:
        # Stock alone rarely fills the pump; without a diluent the concentration would be wrong.
        raise RuleViolationError(
            f"{remainder:.2f} mL of the fill is unaccounted for: add the diluent (saline, water)", field="components"
        )
    return planned


def _plan_drug(
    index: int, drug: Drug, component: FillComponentEntry, fill_ml: float, rate: float, body_mass: float | None
) -> _PlannedComponent:
    field = f"components.{index}"
    if component.dose is not None:
        basis, value = component.dose.basis_and_value
        try:
            plan = plan_dose(
                drug=drug,
                dose=value,
                dose_basis=basis,
                rate_ml_per_day=rate,
                fill_volume_ml=fill_ml,
                body_mass_kg=body_mass,
                stock_concentration=component.stock_concentration,
            )
        except RuleViolationError as exc:
            raise RuleViolationError(str(exc), field=f"{field}.{exc.field or 'dose'}") from exc
        return _PlannedComponent(
            drug, component, plan.stock_volume_ml or 0.0, plan.amount, plan.concentration, plan.daily_amount
        )
    amount = component.amount_mg if drug.amount_basis is AmountBasis.MASS else component.amount_usp_u
    conc = component.conc_mg_per_ml if drug.amount_basis is AmountBasis.MASS else component.conc_usp_u_per_ml
    if amount is None:
        assert conc is not None  # noqa: S101 - the request model demands one of them
        amount = conc * fill_ml
    concentration = amount / fill_ml
    stocks = (component.stock_concentration,) if component.stock_concentration else drug.stock_concentrations
    fitting = [s for s in sorted(stocks) if amount / s <= fill_ml + VOLUME_TOLERANCE_ML]
    if stocks and not fitting:
        raise RuleViolationError(f"{amount:g} of {drug.name} does not fit in a {fill_ml:g} mL fill", field=field)
    volume = amount / fitting[0] if fitting else 0.0
    return _PlannedComponent(drug, component, volume, amount, concentration, concentration * rate if rate else None)


def _dose_warnings(components: Sequence[_PlannedComponent], entry: RefillEntry, body_mass: float | None) -> list[str]:
    warnings: list[str] = []
    for i, planned in enumerate(components):
        drug, guard = planned.drug, planned.drug.dose_guard
        problems: list[str] = []
        max_conc = drug.max_concentration
        if planned.concentration is not None and max_conc is not None and planned.concentration > max_conc * (1 + 1e-9):
            problems.append(DoseWarning.ABOVE_MAX_CONCENTRATION.value)
        if guard is not None and planned.daily_amount is not None:
            dose = planned.daily_amount
            if guard.basis is DoseBasis.MG_PER_KG_PER_DAY and not body_mass:
                problems.append("body_mass_unknown_dose_guard")  # cannot be judged: a clinician must confirm
            else:
                if guard.basis is DoseBasis.MG_PER_KG_PER_DAY:
                    dose = planned.daily_amount / body_mass if body_mass else dose
                if not guard.contains(dose):
                    below = dose < guard.minimum
                    problems.append((DoseWarning.BELOW_GUARD if below else DoseWarning.ABOVE_GUARD).value)
        if problems and not entry.override_dose_guard:
            raise RuleViolationError(
                f"{drug.name}: {', '.join(problems)} (guard {guard.minimum:g}-{guard.maximum:g} {guard.basis.value}); "
                "a clinician must confirm with override_dose_guard"
                if guard
                else f"{drug.name}: {', '.join(problems)}",
                field=f"components.{i}",
            )
        warnings.extend(f"{drug.drug_id}:{p}" for p in problems)
    return warnings


def _fill_conditions(
    periods: Sequence[ConditionPeriod], at: datetime, components: Sequence[_PlannedComponent]
) -> FlowConditions:
    """Conditions from the fill on: the body as last recorded, the new infusate's viscosity."""
    current = [p for p in periods if p.start_at <= at]
    base = current[-1].conditions if current else FlowConditions()
    viscosity = max(
        (c.drug.relative_viscosity for c in components if c.drug.amount_basis is AmountBasis.VEHICLE), default=1.0
    )
    return base.model_copy(update={"relative_viscosity": viscosity})


def _record_viscosity_change(
    session: Session,
    pump: Pump,
    periods: Sequence[ConditionPeriod],
    at: datetime,
    conditions: FlowConditions,
    actor: Actor,
    now: datetime,
) -> None:
    current = [p for p in periods if p.start_at <= at]
    previous_viscosity = current[-1].conditions.relative_viscosity if current else 1.0
    if previous_viscosity == conditions.relative_viscosity:
        return
    assert pump.id is not None  # noqa: S101
    session.add(
        ConditionPeriodRow(
            pump_id=pump.id,
            start_at=at,
            body_temperature_c=conditions.body_temperature_c,
            ambient_pressure_mmhg=conditions.ambient_pressure_mmhg,
            relative_viscosity=conditions.relative_viscosity,
            note="infusate changed at refill",
            created_at=now,
            created_by=actor.user,
            station_id=actor.station_id,
        )
    )


def _due(
    model: PumpModel,
    entry: RefillEntry,
    planning_rate: float,
    components: Sequence[_PlannedComponent],
    settings: Settings,
) -> tuple[DueDate, ReservoirForecast]:
    forecast = forecast_reservoir(
        volume_ml=entry.fill_volume_ml,
        at=entry.performed_at,
        daily_volume_ml=planning_rate,
        low_reservoir_ml=model.low_reservoir_ml,
        near_empty_ml=model.near_empty_ml,
    )
    due = next_refill_due(
        filled_at=entry.performed_at,
        forecast=forecast,
        safety_margin_days=settings.safety_margin_days,
        stability_days=[c.drug.stability_days for c in components],
        protocol_interval_days=model.protocol_interval_days,
        max_interval_days=model.max_interval_days,
    )
    return due, forecast


def _component_row(refill_id: int, planned: _PlannedComponent) -> RefillComponent:
    mass = planned.drug.amount_basis is AmountBasis.MASS
    activity = planned.drug.amount_basis is AmountBasis.ACTIVITY
    return RefillComponent(
        refill_id=refill_id,
        drug_id=planned.drug.drug_id,
        volume_ml=planned.volume_ml,
        amount_mg=planned.amount if mass else None,
        amount_usp_u=planned.amount if activity else None,
        conc_mg_per_ml=planned.concentration if mass else None,
        conc_usp_u_per_ml=planned.concentration if activity else None,
        ndc=planned.entry.ndc,
        lot=planned.entry.lot,
        expires_on=planned.entry.expires_on,
    )
