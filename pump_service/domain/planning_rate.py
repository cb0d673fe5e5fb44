"""The one rate a pump is planned at: its reservoir forecast, due date and delivered dose all use it.

Every place that plans (a refill, the read-back after it, an interrogation, a condition or
prescription change) calls :func:`planning_rate`, so a pump is never planned at one rate by the
refill and at another by the next replan.

- Constant-flow: the unit's labelled rate corrected for the conditions in force (fever, altitude,
  the infusate's viscosity), scaled up by the unit's measured ratio when the last return showed
  it running faster than expected, inside the model's band. A slower unit is still planned at its
  corrected rate (the earlier due date is the safe side), and a ratio outside the band is never
  used (the refill that measured it was a hard stop).
- Programmable: the prescription's basal mean plus every patient bolus the registered allowance
  permits (the worst case, as the Prometra refill-date convention does). The pump's own
  prescription has no bolus allowance in HPP/1, so the allowance always comes from the register.
"""

from dataclasses import dataclass
from enum import StrEnum

from pump_service.domain.bounds import CONSTANT_FLOW_BAND_PCT
from pump_service.errors import RuleViolationError
from schemas.flow_law import FlowConditions
from schemas.pump import PumpFamily, PumpModel

__all__ = ["PlanningRate", "RateSource", "flow_ratio_in_band", "planning_rate"]


class RateSource(StrEnum):
    MODEL = "model"  # constant-flow: labelled rate under the conditions in force
    MEASURED = "measured"  # constant-flow: as MODEL, times the unit's measured ratio (> 1)
    PRESCRIPTION = "prescription"  # programmable: basal + registered bolus allowance


@dataclass(frozen=True, slots=True)
class PlanningRate:
    """``rate_ml_per_day`` plans the reservoir; ``dosing_rate_ml_per_day`` delivers the daily dose.

    They differ only for a programmable pump with a bolus allowance: the dose is prescribed on the
    basal flow, and the worst case (every bolus taken) is what the guards judge.
    """

    rate_ml_per_day: float
    dosing_rate_ml_per_day: float
    source: RateSource


def flow_ratio_in_band(ratio: float | None) -> bool:
    """Whether a measured/expected flow ratio is inside the constant-flow band."""
    return ratio is not None and abs(ratio - 1.0) * 100.0 <= CONSTANT_FLOW_BAND_PCT


def planning_rate(
    model: PumpModel,
    *,
    nominal_rate_ml_per_day: float | None = None,
    conditions: FlowConditions | None = None,
    flow_ratio: float | None = None,
    basal_ml_per_day: float | None = None,
    bolus_allowance_ml_per_day: float = 0.0,
) -> PlanningRate:
    """The planning rate of a pump of ``model`` (see the module docstring).

    Raises:
        RuleViolationError: a negative rate or allowance.
    """
    if model.family is PumpFamily.CONSTANT_FLOW:
        nominal = nominal_rate_ml_per_day or model.nominal_rate_ml_per_day or 0.0
        if nominal < 0:
            raise RuleViolationError("a pump's labelled rate must not be negative", field="nominal_rate_ml_per_day")
        corrected = nominal * model.flow_factor(conditions or FlowConditions())
        if flow_ratio is not None and flow_ratio > 1.0 and flow_ratio_in_band(flow_ratio):
            scaled = corrected * flow_ratio
            return PlanningRate(scaled, scaled, RateSource.MEASURED)
        return PlanningRate(corrected, corrected, RateSource.MODEL)
    basal = basal_ml_per_day or 0.0
    if basal < 0 or bolus_allowance_ml_per_day < 0:
        raise RuleViolationError("a prescription's rates must not be negative", field="prescription")
    return PlanningRate(basal + bolus_allowance_ml_per_day, basal, RateSource.PRESCRIPTION)
