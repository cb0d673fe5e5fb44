"""Pure refill rules: residual, flow check, dosing, reservoir forecast, due date.

Arguments in, values out; ``now`` is always a parameter. Imports ``schemas`` and the service's
error types only, no framework.
"""

from pump_service.domain.dosing import DosePlan, DoseWarning, plan_dose
from pump_service.domain.due import DueConstraint, DueDate, DueReason, next_refill_due
from pump_service.domain.reservoir import ReservoirForecast, daily_volume_ml, forecast_reservoir
from pump_service.domain.residual import ConditionPeriod, expected_residual_ml
from pump_service.domain.return_check import (
    CAUSE_TEXT,
    DiscrepancyThresholds,
    LikelyCause,
    ReturnAssessment,
    assess_return,
    classify_deviation,
)
from pump_service.domain.timespan import elapsed_days

__all__ = [
    "CAUSE_TEXT",
    "ConditionPeriod",
    "DiscrepancyThresholds",
    "DosePlan",
    "DoseWarning",
    "DueConstraint",
    "DueDate",
    "DueReason",
    "LikelyCause",
    "ReservoirForecast",
    "ReturnAssessment",
    "assess_return",
    "classify_deviation",
    "daily_volume_ml",
    "elapsed_days",
    "expected_residual_ml",
    "forecast_reservoir",
    "next_refill_due",
    "plan_dose",
]
