"""Compare what the nurse aspirated with what the pump should have held, and say why they differ.

Thresholds default to warn above 10 % and alert above 20 % deviation of the measured flow from
the expected flow (docs/domain.md explains the sources). The likely causes follow the direction
of the discrepancy: more fluid back than expected means the pump ran slow, less means it ran
fast or fluid went elsewhere, nothing at all means the needle may not be in the reservoir.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pump_service.domain.timespan import elapsed_days
from pump_service.errors import RuleViolationError
from schemas.refill import FlowClass

__all__ = ["DiscrepancyThresholds", "LikelyCause", "ReturnAssessment", "assess_return", "classify_deviation"]

# Returned volumes are read off a syringe; equal within this they are the same reading.
VOLUME_TOLERANCE_ML = 1e-6
# A deviation of exactly a threshold (10 %) computes as 10.000000000000009 in floating point;
# the class must not flip on that noise.
DEVIATION_TOLERANCE_PCT = 1e-9


class LikelyCause(StrEnum):
    """Causes of a flow discrepancy; the values are stable codes, :data:`CAUSE_TEXT` says them."""

    CATHETER_OCCLUSION = "catheter_occlusion"
    CATHETER_KINK = "catheter_kink"
    RESTRICTOR_PRECIPITATE = "restrictor_precipitate"
    VISCOUS_INFUSATE = "viscous_infusate"
    COOL_OR_HIGH_PRESSURE = "cool_or_high_pressure"
    PUMP_FAILURE = "pump_failure"
    FEVER_HEAT_OR_ALTITUDE = "fever_heat_or_altitude"
    LEAK_OR_DISCONNECTION = "leak_or_disconnection"
    POCKET_FILL = "pocket_fill"
    INCOMPLETE_ASPIRATION = "incomplete_aspiration"
    DRY_PUMP = "dry_pump"
    MOTOR_STALL = "motor_stall"
    PATIENT_BOLUSES = "patient_boluses"
    OVER_INFUSION = "over_infusion"
    FLIPPED_PUMP = "flipped_pump"
    NEEDLE_NOT_IN_RESERVOIR = "needle_not_in_reservoir"


CAUSE_TEXT: dict[LikelyCause, str] = {
    LikelyCause.CATHETER_OCCLUSION: "catheter occlusion or thrombosis",
    LikelyCause.CATHETER_KINK: "kinked catheter",
    LikelyCause.RESTRICTOR_PRECIPITATE: "precipitate in the flow restrictor",
    LikelyCause.VISCOUS_INFUSATE: "more viscous infusate (e.g. glycerin)",
    LikelyCause.COOL_OR_HIGH_PRESSURE: "lower body temperature or higher ambient pressure (diving)",
    LikelyCause.PUMP_FAILURE: "pump failure",
    LikelyCause.FEVER_HEAT_OR_ALTITUDE: "fever, heating pad over the pump, or altitude",
    LikelyCause.LEAK_OR_DISCONNECTION: "leak or catheter/pump disconnection",
    LikelyCause.POCKET_FILL: "previous fill partly injected into the pocket",
    LikelyCause.INCOMPLETE_ASPIRATION: "incomplete aspiration of the residual",
    LikelyCause.DRY_PUMP: "pump ran dry",
    LikelyCause.MOTOR_STALL: "motor stall (check the pump log and alarms)",
    LikelyCause.PATIENT_BOLUSES: "patient-activated boluses",
    LikelyCause.OVER_INFUSION: "over-infusion beyond the pump's accuracy",
    LikelyCause.FLIPPED_PUMP: "pump flipped in its pocket",
    LikelyCause.NEEDLE_NOT_IN_RESERVOIR: "needle not in the reservoir",
}

SLOW_CAUSES = (
    LikelyCause.CATHETER_OCCLUSION,
    LikelyCause.CATHETER_KINK,
    LikelyCause.RESTRICTOR_PRECIPITATE,
    LikelyCause.VISCOUS_INFUSATE,
    LikelyCause.COOL_OR_HIGH_PRESSURE,
    LikelyCause.PUMP_FAILURE,
)
FAST_CAUSES = (
    LikelyCause.FEVER_HEAT_OR_ALTITUDE,
    LikelyCause.LEAK_OR_DISCONNECTION,
    LikelyCause.POCKET_FILL,
    LikelyCause.INCOMPLETE_ASPIRATION,
)
# A programmable pump's motor sets its flow: body temperature and altitude do not change it.
PROGRAMMABLE_SLOW_CAUSES = (
    LikelyCause.CATHETER_OCCLUSION,
    LikelyCause.CATHETER_KINK,
    LikelyCause.MOTOR_STALL,
    LikelyCause.PUMP_FAILURE,
)
PROGRAMMABLE_FAST_CAUSES = (
    LikelyCause.POCKET_FILL,
    LikelyCause.LEAK_OR_DISCONNECTION,
    LikelyCause.PATIENT_BOLUSES,
    LikelyCause.OVER_INFUSION,
    LikelyCause.INCOMPLETE_ASPIRATION,
)
NOTHING_ASPIRATED_CAUSES = (LikelyCause.DRY_PUMP, LikelyCause.FLIPPED_PUMP, LikelyCause.NEEDLE_NOT_IN_RESERVOIR)


@dataclass(frozen=True, slots=True)
class DiscrepancyThresholds:
    """Absolute deviation (%) above which a return is a warning, and above which an alert."""

    warn_pct: float = 10.0
    alert_pct: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.warn_pct <= self.alert_pct:
            raise ValueError("thresholds need 0 < warn_pct <= alert_pct")


@dataclass(frozen=True, slots=True)
class ReturnAssessment:
    """The figures a nurse sees after entering the returned volume."""

    days: float
    expected_residual_ml: float
    expected_rate_ml_per_day: float
    measured_rate_ml_per_day: float | None  # None when nothing was aspirated: the flow is unknown
    deviation_pct: float | None
    volume_delta_ml: float  # returned - expected; + means the pump ran slow
    flow_class: FlowClass
    likely_causes: tuple[LikelyCause, ...] = field(default=())
    nothing_aspirated: bool = False


def classify_deviation(deviation_pct: float, thresholds: DiscrepancyThresholds) -> FlowClass:
    """Ok / warn / alert from the absolute deviation (the thresholds themselves are still ok/warn)."""
    size = abs(deviation_pct) - DEVIATION_TOLERANCE_PCT
    if size > thresholds.alert_pct:
        return FlowClass.ALERT
    if size > thresholds.warn_pct:
        return FlowClass.WARN
    return FlowClass.OK


def assess_return(
    *,
    fill_volume_ml: float,
    returned_volume_ml: float,
    expected_residual_ml: float,
    filled_at: datetime,
    now: datetime,
    thresholds: DiscrepancyThresholds | None = None,
    resolution_ml: float = 0.0,
    programmable: bool = False,
) -> ReturnAssessment:
    """Measured flow ``(V_fill - V_returned) / days``, its deviation from the expected flow, and causes.

    ``resolution_ml`` is the syringe's graduation: a stopped pump whose return differs from its fill
    by no more than that gave everything back. ``programmable`` picks the causes that apply to a
    motor-driven pump (no fever or altitude effect; boluses, motor stall).

    Raises:
        RuleViolationError: negative volumes, a return above the fill, naive datetimes, ``now`` not
            after ``filled_at``, or an expected residual outside 0..fill.
    """
    thresholds = thresholds or DiscrepancyThresholds()
    if returned_volume_ml < 0:
        raise RuleViolationError("returned volume must not be negative", field="returned_volume_ml")
    if returned_volume_ml > fill_volume_ml + VOLUME_TOLERANCE_ML:
        raise RuleViolationError(
            f"returned volume {returned_volume_ml:g} mL is more than the {fill_volume_ml:g} mL that was filled",
            field="returned_volume_ml",
        )
    if not 0 <= expected_residual_ml <= fill_volume_ml + VOLUME_TOLERANCE_ML:
        raise RuleViolationError(
            "expected residual must lie between 0 and the fill volume", field="expected_residual_ml"
        )
    days = elapsed_days(filled_at, now)
    expected_rate = (fill_volume_ml - expected_residual_ml) / days
    delta = returned_volume_ml - expected_residual_ml

    if returned_volume_ml <= VOLUME_TOLERANCE_ML:
        return ReturnAssessment(
            days=days,
            expected_residual_ml=expected_residual_ml,
            expected_rate_ml_per_day=expected_rate,
            measured_rate_ml_per_day=None,
            deviation_pct=None,
            volume_delta_ml=delta,
            flow_class=FlowClass.ALERT,
            likely_causes=NOTHING_ASPIRATED_CAUSES,
            nothing_aspirated=True,
        )

    measured_rate = (fill_volume_ml - returned_volume_ml) / days
    if expected_rate <= 0:
        # A stopped pump should give back its fill: any loss is unexplained delivery or leakage.
        deviation = None
        flow_class = FlowClass.OK if abs(delta) <= resolution_ml + VOLUME_TOLERANCE_ML else FlowClass.ALERT
    else:
        deviation = 100.0 * (measured_rate - expected_rate) / expected_rate
        flow_class = classify_deviation(deviation, thresholds)
    causes: tuple[LikelyCause, ...] = ()
    if flow_class is not FlowClass.OK:
        if programmable:
            causes = PROGRAMMABLE_SLOW_CAUSES if delta > 0 else PROGRAMMABLE_FAST_CAUSES
        else:
            causes = SLOW_CAUSES if delta > 0 else FAST_CAUSES
    return ReturnAssessment(
        days=days,
        expected_residual_ml=expected_residual_ml,
        expected_rate_ml_per_day=expected_rate,
        measured_rate_ml_per_day=measured_rate,
        deviation_pct=deviation,
        volume_delta_ml=delta,
        flow_class=flow_class,
        likely_causes=causes,
    )
