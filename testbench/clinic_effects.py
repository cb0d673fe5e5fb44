"""What moved a return away from the service's expectation, split by cause, from counterfactual pumps.

At each fill the truth keeps three copies of a constant-flow pump run from the same volume: the
labelled pump (unit factor 1, no fevers or flights, no faults: what the service expects), the
unit as built (its flow spread), and the unit with the patient's conditions (fevers, flights,
mountain stays). At the next visit the differences between them, with the syringe's rounding
and the faults (true minus the fault-free copy, which got the whole fill, pocket share included), are
the causes of the deviation the service saw. A fault is *measurable* at a visit when it moved the
return by more than the check's warning threshold of the interval's labelled delivery plus the
syringe's graduation: before that no refill check can see it, so it is not yet judged.
"""

import copy
from dataclasses import dataclass
from datetime import datetime

from pump_service.domain.return_check import DiscrepancyThresholds
from schemas.pump import PumpFamily
from simulators.conditions import PatientTimeline
from simulators.constant_flow import SimulatedConstantFlowPump
from testbench.clinic_nurse import SYRINGE_RESOLUTION_ML

__all__ = ["Baselines", "Contributions", "FalseAlarmCause", "detectable_ml"]

DEFAULT_DISCREPANCY_ML = 1.0  # a programmable pump's register check (Maino 2017), as the service uses


class FalseAlarmCause:
    """The report's names for what explains a flag on a pump without a fault in effect."""

    FLOW_SPREAD = "flow_spread"  # the unit's manufacturing spread (within its labelled tolerance)
    SYRINGE_RESOLUTION = "syringe_resolution"  # the residual read to the syringe's graduation
    OTHER = "unexplained"


def _copy(
    pump: SimulatedConstantFlowPump, *, pocket_ml: float, labelled: bool, conditions: bool
) -> SimulatedConstantFlowPump:
    twin = copy.copy(pump)  # advance_to rebinds the scalars; the lists and sets are replaced here
    twin.events, twin.faults = [], ()
    twin._used_pocket_fills = set()
    twin.volume_ml = min(pump.model.capacity_ml, pump.volume_ml + pocket_ml)  # the whole fill, as the service expects
    if labelled:
        twin.unit_factor = 1.0
    if not conditions:
        twin.timeline = PatientTimeline()
    return twin


@dataclass(frozen=True, slots=True)
class Contributions:
    """Millilitres each cause added to the return (+: more came back than the labelled pump would hold)."""

    spread_ml: float
    conditions_ml: float
    faults_ml: float
    resolution_ml: float

    def main_cause(self, episodes: tuple[str, ...]) -> str:
        """The largest cause of a fault-free flag: spread, the named episodes, or the syringe's rounding."""
        ranked = sorted(
            (
                (abs(self.spread_ml), FalseAlarmCause.FLOW_SPREAD),
                (abs(self.conditions_ml), "+".join(episodes) if episodes else FalseAlarmCause.OTHER),
                (abs(self.resolution_ml), FalseAlarmCause.SYRINGE_RESOLUTION),
            ),
            reverse=True,
        )
        return ranked[0][1]

    def describe(self) -> str:
        net = self.faults_ml + self.spread_ml + self.conditions_ml + self.resolution_ml
        return (
            f"the return moved {net:+.2f} mL in all: fault {self.faults_ml:+.2f} mL, "
            f"flow spread {self.spread_ml:+.2f} mL, "
            f"fevers/flights {self.conditions_ml:+.2f} mL, syringe {self.resolution_ml:+.2f} mL"
        )


class Baselines:
    """The three counterfactual copies of a constant-flow pump, from one fill to the next visit."""

    def __init__(self, pump: SimulatedConstantFlowPump, pocket_ml: float) -> None:
        self.labelled = _copy(pump, pocket_ml=pocket_ml, labelled=True, conditions=False)
        self.unit = _copy(pump, pocket_ml=pocket_ml, labelled=False, conditions=False)
        self.patient = _copy(pump, pocket_ml=pocket_ml, labelled=False, conditions=True)

    def at_visit(self, at: datetime, *, true_ml: float, measured_ml: float) -> Contributions:
        for twin in (self.labelled, self.unit, self.patient):
            twin.advance_to(max(at, twin.at))
        return Contributions(
            spread_ml=self.unit.volume_ml - self.labelled.volume_ml,
            conditions_ml=self.patient.volume_ml - self.unit.volume_ml,
            faults_ml=true_ml - self.patient.volume_ml,
            resolution_ml=measured_ml - true_ml,
        )


def detectable_ml(
    *, constant_flow: bool, days: float, labelled_rate_ml_per_day: float, pocket_threshold_ml: float | None
) -> float:
    """The smallest change of the return the service's refill check flags on its own (the warning threshold)."""
    if constant_flow:
        warn = DiscrepancyThresholds().warn_pct / 100.0
        return warn * labelled_rate_ml_per_day * days + SYRINGE_RESOLUTION_ML[PumpFamily.CONSTANT_FLOW]
    return (pocket_threshold_ml or DEFAULT_DISCREPANCY_ML) + SYRINGE_RESOLUTION_ML[PumpFamily.PROGRAMMABLE]
