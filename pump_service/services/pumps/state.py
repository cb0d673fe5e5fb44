"""A stored pump as the refill rules see it: its conditions, its prescription's rates, its planning rate.

The domain's plan and every replan take plain values; this module reads them from the pump's rows
once, so the refill, the read-back, an interrogation and a condition change all plan a pump from
the same figures through :func:`pump_service.domain.planning_rate.planning_rate`.
"""

from datetime import datetime

from sqlmodel import Session, col, select

from pump_service.domain.planning_rate import PlanningRate, planning_rate
from pump_service.domain.refill_plan import PumpSnapshot
from pump_service.domain.residual import ConditionPeriod, expected_residual_ml
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import ConditionPeriodRow, Patient, PrescriptionRow, Pump, Refill, RefillComponent
from pump_service.persistence.rows import pump_id_of
from pump_service.persistence.schedule_models import Clinic
from pump_service.services.held_rows import hold_rows
from schemas.flow_law import FlowConditions
from schemas.prescription import StepsPrescription
from schemas.pump import DeliveryRoute, PumpFamily, PumpModel
from schemas.pump_catalogue import get_pump_model

__all__ = [
    "condition_periods_of",
    "conditions_at",
    "current_planning_rate",
    "expected_residual_at",
    "hold_pump_rows",
    "prescription_rates",
    "pump_id_of",
    "snapshot_of",
]


def hold_pump_rows(session: Session, pump: Pump) -> None:
    """Keep the pump's clinic and patient loaded for the rest of the session (see :mod:`..held_rows`)."""
    if pump.clinic_id is not None:
        hold_rows(session, session.get(Clinic, pump.clinic_id))
    if pump.patient_id is not None:
        hold_rows(session, session.get(Patient, pump.patient_id))


def _period(row: ConditionPeriodRow) -> ConditionPeriod:
    return ConditionPeriod(
        start_at=row.start_at,
        conditions=FlowConditions(
            body_temperature_c=row.body_temperature_c,
            ambient_pressure_mmhg=row.ambient_pressure_mmhg,
            relative_viscosity=row.relative_viscosity,
        ),
    )


def condition_periods_of(session: Session, pump_id: int) -> list[ConditionPeriod]:
    return [_period(row) for row in repo.condition_periods(session, pump_id)]


def conditions_at(periods: list[ConditionPeriod], at: datetime) -> FlowConditions:
    current = [p for p in periods if p.start_at <= at]
    return current[-1].conditions if current else FlowConditions()


def _basal(row: PrescriptionRow) -> float:
    if row.mode == "continuous":
        return row.rate_ml_per_day or 0.0
    if row.mode == "steps":
        rx = StepsPrescription.model_validate(
            {"steps": [{"start": s["start"], "rate_ml_per_day": s["rate_ml_per_day"]} for s in row.steps]}
        )
        return rx.mean_rate_ml_per_day()
    return 0.0


def prescription_rates(session: Session, pump_id: int) -> tuple[float | None, float]:
    """The basal mean (mL/day) of the prescription in force (None without one) and its bolus allowance."""
    row = repo.current_prescription(session, pump_id)
    if row is None:
        return None, 0.0
    allowance = (row.bolus_volume_ml or 0.0) * (row.bolus_max_per_day or 0)
    return _basal(row), allowance


def _drugs_in_pump(session: Session, pump_id: int) -> frozenset[str]:
    last = session.exec(
        select(Refill.id).where(Refill.pump_id == pump_id).order_by(col(Refill.performed_at).desc()).limit(1)
    ).first()
    if last is None:
        return frozenset()
    return frozenset(session.exec(select(RefillComponent.drug_id).where(RefillComponent.refill_id == last)).all())


def _body_mass(session: Session, pump: Pump) -> float | None:
    if pump.patient_id is None:
        return None
    patient = session.get(Patient, pump.patient_id)
    return patient.body_mass_kg if patient else None


def snapshot_of(session: Session, pump: Pump) -> PumpSnapshot:
    """Everything the refill plan needs to know about the stored pump."""
    pump_id = pump_id_of(pump)
    model = get_pump_model(pump.model_id)
    basal, allowance = prescription_rates(session, pump_id) if model.family is PumpFamily.PROGRAMMABLE else (None, 0.0)
    return PumpSnapshot(
        serial=pump.serial,
        model=model,
        route=DeliveryRoute(pump.route),
        version=pump.version,
        nominal_rate_ml_per_day=pump.nominal_rate_ml_per_day,
        implanted_at=pump.implanted_at,
        last_fill_at=pump.last_fill_at,
        last_fill_volume_ml=pump.last_fill_volume_ml,
        flow_ratio=pump.flow_ratio,
        basal_ml_per_day=basal,
        bolus_allowance_ml_per_day=allowance,
        periods=tuple(condition_periods_of(session, pump_id)),
        patient_body_mass_kg=_body_mass(session, pump),
        drugs_in_pump=_drugs_in_pump(session, pump_id),
    )


def current_planning_rate(session: Session, pump: Pump, *, at: datetime) -> PlanningRate:
    """The pump's planning rate from ``at`` on, from its stored state (the replans' entry point)."""
    pump_id = pump_id_of(pump)
    model = get_pump_model(pump.model_id)
    if model.family is PumpFamily.PROGRAMMABLE:
        basal, allowance = prescription_rates(session, pump_id)
        return planning_rate(model, basal_ml_per_day=basal, bolus_allowance_ml_per_day=allowance)
    return planning_rate(
        model,
        nominal_rate_ml_per_day=pump.nominal_rate_ml_per_day,
        conditions=conditions_at(condition_periods_of(session, pump_id), at),
        flow_ratio=pump.flow_ratio,
    )


def expected_residual_at(
    pump: Pump,
    model: PumpModel,
    periods: list[ConditionPeriod],
    at: datetime,
    *,
    programmed_rate_ml_per_day: float | None = None,
) -> float | None:
    """What the reservoir should hold at ``at`` since the last fill, or None before any fill.

    Constant-flow: the unit's labelled rate, corrected period by period for the patient's
    conditions. Programmable: ``programmed_rate_ml_per_day`` (the basal mean of the prescription
    in force; boluses are the patient's and are judged by the return), else the planning rate.
    """
    if pump.last_fill_at is None or pump.last_fill_volume_ml is None or at <= pump.last_fill_at:
        return None
    if model.flow_law is not None:
        rate = pump.nominal_rate_ml_per_day
    else:
        rate = programmed_rate_ml_per_day if programmed_rate_ml_per_day is not None else pump.planning_rate_ml_per_day
    return expected_residual_ml(
        model=model,
        fill_volume_ml=min(pump.last_fill_volume_ml, model.capacity_ml),
        rate_ml_per_day=rate or 0.0,
        filled_at=pump.last_fill_at,
        now=at,
        periods=periods,
    )
