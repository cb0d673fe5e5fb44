"""The return judged: what came back against the expected residual, the band or the register.

A constant-flow pump's measured flow outside its band is a hard stop and never plans the pump; a
programmable pump is judged by its register (which counts the patient's boluses) or, without
it, by the band between every allowed bolus taken and none. Nothing aspirated is a hard stop
unless the pump was expected to be (nearly) empty.
"""

from datetime import datetime

from pump_service.domain.bounds import CONSTANT_FLOW_BAND_PCT
from pump_service.domain.findings import Finding, FindingCode, Tier
from pump_service.domain.planning_rate import flow_ratio_in_band
from pump_service.domain.refill_inputs import FillRequest, PlanPolicy, PumpSnapshot, RegisterReading
from pump_service.domain.residual import expected_residual_ml
from pump_service.domain.return_check import DiscrepancyThresholds, ReturnAssessment, assess_return
from pump_service.errors import RuleViolationError
from schemas.pump import DeliveryRoute, PumpFamily
from schemas.refill import FlowClass

__all__ = ["BAND_CODES", "assess", "judge_constant_flow", "judge_programmable", "register_findings"]

SPINAL_ROUTES = frozenset({DeliveryRoute.INTRATHECAL, DeliveryRoute.EPIDURAL})
# Maino 2017: a discrepancy above 1 mL (20 mL pump) or 2 mL (40 mL pump) suggests a pocket fill.
DEFAULT_DISCREPANCY_ML = 1.0
# Without the register; the register's findings replace them (RefillPlan.with_register).
BAND_CODES = frozenset({FindingCode.VOLUME_DISCREPANCY, FindingCode.VOLUME_DISCREPANCY_WARNING})


def _residual_at(pump: PumpSnapshot, at: datetime, rate_ml_per_day: float) -> float:
    if pump.last_fill_at is None or pump.last_fill_volume_ml is None:
        raise RuleViolationError("no previous fill to compare with", field="returned_volume_ml")
    return expected_residual_ml(
        model=pump.model,
        fill_volume_ml=min(pump.last_fill_volume_ml, pump.model.capacity_ml),
        rate_ml_per_day=rate_ml_per_day,
        filled_at=pump.last_fill_at,
        now=at,
        periods=pump.periods,
    )


def assess(pump: PumpSnapshot, request: FillRequest, policy: PlanPolicy) -> ReturnAssessment | None:
    if pump.last_fill_at is None or pump.last_fill_volume_ml is None:
        return None
    if pump.model.family is PumpFamily.CONSTANT_FLOW:
        rate = pump.nominal_rate_ml_per_day or pump.model.nominal_rate_ml_per_day or 0.0
    else:
        rate = pump.basal_ml_per_day or 0.0  # the patient's boluses are judged by the return
    expected = _residual_at(pump, request.performed_at, rate)
    return assess_return(
        fill_volume_ml=min(pump.last_fill_volume_ml, pump.model.capacity_ml),
        returned_volume_ml=min(request.returned_volume_ml, pump.last_fill_volume_ml),
        expected_residual_ml=expected,
        filled_at=pump.last_fill_at,
        now=request.performed_at,
        thresholds=DiscrepancyThresholds(warn_pct=policy.warn_deviation_pct, alert_pct=policy.alert_deviation_pct),
        resolution_ml=request.syringe_resolution_ml or 0.0,
        programmable=pump.model.family is PumpFamily.PROGRAMMABLE,
    )


def _return_figures(assessment: ReturnAssessment) -> dict[str, float | str | None]:
    return {
        "expected_residual_ml": round(assessment.expected_residual_ml, 3),
        "expected_rate_ml_per_day": round(assessment.expected_rate_ml_per_day, 4),
        "measured_rate_ml_per_day": (
            None if assessment.measured_rate_ml_per_day is None else round(assessment.measured_rate_ml_per_day, 4)
        ),
        "deviation_pct": None if assessment.deviation_pct is None else round(assessment.deviation_pct, 2),
        "volume_delta_ml": round(assessment.volume_delta_ml, 3),
    }


def _nothing_aspirated(assessment: ReturnAssessment, request: FillRequest, findings: list[Finding]) -> None:
    """Nothing came back: a pump expected to hold a residual puts the needle's placement in doubt."""
    expected = assessment.expected_residual_ml
    # Within the graduation plus a millilitre of empty, a dry pump is what was expected.
    if expected <= DEFAULT_DISCREPANCY_ML + (request.syringe_resolution_ml or 0.0):
        findings.append(
            Finding(
                FindingCode.NOTHING_ASPIRATED,
                Tier.WARNING,
                f"nothing was aspirated and {expected:.2f} mL was expected: the pump ran (nearly) dry; with no "
                "residual to confirm the needle's placement, confirm it (e.g. a second needle) before filling",
                _return_figures(assessment),
                "returned_volume_ml",
            )
        )
        return
    findings.append(
        Finding(
            FindingCode.NEEDLE_PLACEMENT_UNCONFIRMED,
            Tier.HARD_STOP,
            f"nothing was aspirated where {expected:.2f} mL was expected: the pump may have run dry or flipped, "
            "or the needle is not in the reservoir; confirm placement before filling",
            _return_figures(assessment),
            "returned_volume_ml",
        )
    )


def _flow_class_finding(assessment: ReturnAssessment, findings: list[Finding]) -> None:
    if assessment.flow_class is FlowClass.OK:
        return
    code = FindingCode.FLOW_ALERT if assessment.flow_class is FlowClass.ALERT else FindingCode.FLOW_DEVIATION
    deviation = assessment.deviation_pct
    what = f"{deviation:+.1f} %" if deviation is not None else f"{assessment.volume_delta_ml:+.2f} mL"
    findings.append(
        Finding(
            code,
            Tier.WARNING,
            f"the return differs from the expected residual ({what}): "
            + ", ".join(c.value.replace("_", " ") for c in assessment.likely_causes),
            _return_figures(assessment),
            "returned_volume_ml",
        )
    )


def judge_constant_flow(
    assessment: ReturnAssessment, request: FillRequest, stored_ratio: float | None, findings: list[Finding]
) -> float | None:
    """Findings for the return; the flow ratio the pump is planned with from now on."""
    if assessment.nothing_aspirated:
        _nothing_aspirated(assessment, request, findings)
        return stored_ratio
    measured, expected = assessment.measured_rate_ml_per_day, assessment.expected_rate_ml_per_day
    if measured is None or expected <= 0:
        _flow_class_finding(assessment, findings)
        return stored_ratio
    ratio = measured / expected
    if not flow_ratio_in_band(ratio):
        findings.append(
            Finding(
                FindingCode.IMPLAUSIBLE_FLOW,
                Tier.HARD_STOP,
                f"measured flow {measured:.3g} mL/day is {100 * (ratio - 1):+.0f} % from the expected "
                f"{expected:.3g} mL/day, outside the pump's physical band of ±{CONSTANT_FLOW_BAND_PCT:g} %: "
                "check the volumes and times entered, and the pump; the plan stays on the pump's model rate",
                {**_return_figures(assessment), "band_pct": CONSTANT_FLOW_BAND_PCT},
                "returned_volume_ml",
            )
        )
        return None  # the unit's speed is in doubt: back to the model rate, not an older ratio
    _flow_class_finding(assessment, findings)
    return ratio


def _discrepancy_threshold_ml(pump: PumpSnapshot, request: FillRequest) -> float:
    return (pump.model.pocket_fill_threshold_ml or DEFAULT_DISCREPANCY_ML) + (request.syringe_resolution_ml or 0.0)


def judge_programmable(
    assessment: ReturnAssessment,
    pump: PumpSnapshot,
    request: FillRequest,
    register: RegisterReading | None,
    findings: list[Finding],
) -> None:
    if register is not None:  # the register counts the patient's boluses: it is the measure
        findings.extend(register_findings(pump, request, register))
    if assessment.nothing_aspirated:
        _nothing_aspirated(assessment, request, findings)
        return
    if register is not None:
        return
    # Without the register: the residual lies between every bolus taken and none.
    spinal, threshold, returned = (
        pump.route in SPINAL_ROUTES,
        _discrepancy_threshold_ml(pump, request),
        request.returned_volume_ml,
    )
    at_basal = assessment.expected_residual_ml
    at_worst = _residual_at(
        pump, request.performed_at, (pump.basal_ml_per_day or 0.0) + pump.bolus_allowance_ml_per_day
    )
    if at_worst - threshold <= returned <= at_basal + threshold:
        return
    findings.append(
        Finding(
            FindingCode.VOLUME_DISCREPANCY if spinal else FindingCode.VOLUME_DISCREPANCY_WARNING,
            Tier.HARD_STOP if spinal else Tier.WARNING,
            f"{returned:.2f} mL came back where {at_worst:.2f}-{at_basal:.2f} mL was expected (with and without "
            f"every allowed bolus), a discrepancy above {threshold:g} mL",
            {
                "returned_ml": returned,
                "expected_min_ml": round(at_worst, 3),
                "expected_max_ml": round(at_basal, 3),
                "threshold_ml": threshold,
            },
            "returned_volume_ml",
        )
    )


def register_findings(pump: PumpSnapshot, request: FillRequest, register: RegisterReading) -> list[Finding]:
    """The return against the pump's own register: less back than it held may be a pocket fill."""
    spinal, threshold, returned = (
        pump.route in SPINAL_ROUTES,
        _discrepancy_threshold_ml(pump, request),
        request.returned_volume_ml,
    )
    missing = register.reservoir_ml - returned
    figures = {"register_ml": round(register.reservoir_ml, 3), "returned_ml": returned, "threshold_ml": threshold}
    if missing > threshold:
        return [
            Finding(
                FindingCode.POCKET_FILL_SUSPECTED if spinal else FindingCode.POCKET_FILL_WARNING,
                Tier.HARD_STOP if spinal else Tier.WARNING,
                f"the pump's register said {register.reservoir_ml:.2f} mL but {returned:.2f} mL came back "
                f"({missing:.2f} mL missing, more than {threshold:g} mL): part of the previous fill may be in "
                "the pocket (Maino 2017), or the aspiration was incomplete",
                figures,
                "returned_volume_ml",
            )
        ]
    if -missing > threshold:
        return [
            Finding(
                FindingCode.VOLUME_DISCREPANCY_WARNING,
                Tier.WARNING,
                f"{returned:.2f} mL came back but the pump's register said {register.reservoir_ml:.2f} mL: "
                "check the register and the pump's log",
                figures,
                "returned_volume_ml",
            )
        ]
    return []
