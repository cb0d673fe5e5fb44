"""What a refill's return should have been: the expected residual since the last fill, and the check.

Constant-flow pumps follow their flow law through the condition periods recorded since the fill;
programmable pumps the basal rate of the prescription in force (boluses are the patient's and show
in the return). Shared by the refill, the visit preview and condition changes.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from pump_service.domain.residual import ConditionPeriod, expected_residual_ml
from pump_service.domain.return_check import DiscrepancyThresholds, ReturnAssessment, assess_return
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import ConditionPeriodRow, Pump
from pump_service.services.contracts import RefillEntry
from pump_service.settings import Settings
from schemas.flow_law import FlowConditions
from schemas.prescription import StepsPrescription
from schemas.pump import PumpFamily, PumpModel

__all__ = ["assess_refill_return", "basal_rate", "condition_periods_of", "expected_residual_at"]


def _period(row: ConditionPeriodRow) -> ConditionPeriod:
    return ConditionPeriod(
        start_at=row.start_at,
        conditions=FlowConditions(
            body_temperature_c=row.body_temperature_c,
            ambient_pressure_mmhg=row.ambient_pressure_mmhg,
            relative_viscosity=row.relative_viscosity,
        ),
    )


def expected_residual_at(
    pump: Pump,
    model: PumpModel,
    periods: Sequence[ConditionPeriod],
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
        fill_volume_ml=pump.last_fill_volume_ml,
        rate_ml_per_day=rate or 0.0,
        filled_at=pump.last_fill_at,
        now=at,
        periods=periods,
    )


def condition_periods_of(session: Session, pump_id: int) -> list[ConditionPeriod]:
    return [_period(row) for row in repo.condition_periods(session, pump_id)]


def basal_rate(session: Session, pump: Pump) -> float | None:
    """The basal mean (mL/day, no boluses) of the pump's current prescription; None if it has none."""
    assert pump.id is not None  # noqa: S101
    row = repo.current_prescription(session, pump.id)
    if row is None:
        return None
    if row.mode == "continuous":
        return row.rate_ml_per_day or 0.0
    if row.mode == "steps":
        rx = StepsPrescription.model_validate(
            {"steps": [{"start": s["start"], "rate_ml_per_day": s["rate_ml_per_day"]} for s in row.steps]}
        )
        return rx.mean_rate_ml_per_day()
    return 0.0


def assess_refill_return(
    pump: Pump,
    model: PumpModel,
    entry: RefillEntry,
    periods: Sequence[ConditionPeriod],
    settings: Settings,
    programmed_rate_ml_per_day: float | None,
) -> ReturnAssessment | None:
    if pump.last_fill_at is None or pump.last_fill_volume_ml is None:
        return None  # first fill after implant: nothing to compare
    expected = expected_residual_at(
        pump, model, periods, entry.performed_at, programmed_rate_ml_per_day=programmed_rate_ml_per_day
    )
    if expected is None:
        expected = pump.last_fill_volume_ml  # not after the last fill: refused by the time checks
    thresholds = DiscrepancyThresholds(warn_pct=settings.warn_deviation_pct, alert_pct=settings.alert_deviation_pct)
    return assess_return(
        fill_volume_ml=pump.last_fill_volume_ml,
        returned_volume_ml=entry.returned_volume_ml,
        expected_residual_ml=expected,
        filled_at=pump.last_fill_at,
        now=entry.performed_at,
        thresholds=thresholds,
        resolution_ml=entry.syringe_resolution_ml or 0.0,
        programmable=model.family is PumpFamily.PROGRAMMABLE,
    )
