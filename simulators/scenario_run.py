"""Run a :class:`~simulators.scenario.Scenario` in virtual time and report what really happened."""

from dataclasses import dataclass
from datetime import datetime

from schemas.pump import PumpFamily
from simulators.clock import ManualClock
from simulators.constant_flow import SimulatedConstantFlowPump
from simulators.programmable import SimulatedProgrammablePump
from simulators.scenario import Refill, Scenario

__all__ = ["RefillOutcome", "Sample", "ScenarioRun", "run_scenario"]


@dataclass(frozen=True, slots=True)
class Sample:
    at: datetime
    volume_ml: float  # true volume in the reservoir
    delivered_ml: float  # cumulative, to the patient


@dataclass(frozen=True, slots=True)
class RefillOutcome:
    at: datetime
    measured_residual_ml: float  # what the syringe showed
    true_residual_ml: float  # what was really in the pump
    volume_after_ml: float


@dataclass(frozen=True)
class ScenarioRun:
    scenario: Scenario
    samples: tuple[Sample, ...]
    events: tuple[tuple[datetime, str], ...]  # (time, what), in time order
    refills: tuple[RefillOutcome, ...]
    unit_factor: float


def run_scenario(scenario: Scenario) -> ScenarioRun:
    """Simulate the scenario's pump from ``start`` for ``duration``, sampling every ``sample_every``."""
    clock = ManualClock(scenario.start)
    pump: SimulatedConstantFlowPump | SimulatedProgrammablePump
    if scenario.model.family is PumpFamily.CONSTANT_FLOW:
        pump = SimulatedConstantFlowPump(
            scenario.model,
            clock=clock,
            serial=scenario.serial,
            seed=scenario.seed,
            unit_factor=scenario.unit_factor,
            timeline=scenario.timeline,
            faults=scenario.faults,
            volume_ml=scenario.fill_ml,
        )
    else:
        pump = SimulatedProgrammablePump(
            scenario.model,
            clock=clock,
            serial=scenario.serial,
            seed=scenario.seed,
            accuracy_factor=scenario.unit_factor,
            volume_ml=scenario.fill_ml,
            prescription=scenario.prescription,
            clock_drift_ppm=scenario.clock_drift_ppm,
            faults=scenario.faults,
        )
    end = scenario.start + scenario.duration
    pending = sorted((r for r in scenario.refills if r.at <= end), key=lambda r: r.at)
    samples: list[Sample] = []
    outcomes: list[RefillOutcome] = []
    moment = scenario.start
    while True:
        while pending and pending[0].at <= moment:
            clock.set(pending[0].at)
            outcomes.append(_refill(pump, pending.pop(0)))
        clock.set(moment)
        samples.append(_sample(pump, moment))
        if moment >= end:
            break
        moment = min(moment + scenario.sample_every, end)
    return ScenarioRun(scenario, tuple(samples), tuple(_events(pump)), tuple(outcomes), _factor(pump))


def _factor(pump: SimulatedConstantFlowPump | SimulatedProgrammablePump) -> float:
    return pump.unit_factor if isinstance(pump, SimulatedConstantFlowPump) else pump.accuracy_factor


def _sample(pump: SimulatedConstantFlowPump | SimulatedProgrammablePump, moment: datetime) -> Sample:
    pump.sync()
    volume = pump.volume_ml if isinstance(pump, SimulatedConstantFlowPump) else pump.true_ml
    return Sample(moment, volume, pump.delivered_ml)


def _refill(pump: SimulatedConstantFlowPump | SimulatedProgrammablePump, refill: Refill) -> RefillOutcome:
    pump.sync()
    true_before = pump.volume_ml if isinstance(pump, SimulatedConstantFlowPump) else pump.true_ml
    reading = pump.aspirate(resolution_ml=refill.resolution_ml, completeness=refill.completeness)
    # Whatever aspiration left behind takes room: the syringe meets resistance at a full reservoir.
    volume = min(refill.fill_ml, pump.model.capacity_ml - reading.left_in_pump_ml)
    if isinstance(pump, SimulatedConstantFlowPump):
        after = pump.fill(volume, relative_viscosity=refill.relative_viscosity)
    else:
        after = pump.inject(volume)
        remains = max(0.0, pump.register_ml - reading.measured_ml)
        added = min(refill.fill_ml, pump.model.capacity_ml - remains)
        pump.record_refill(
            volume_removed_ml=reading.measured_ml, volume_added_ml=added, reservoir_after_ml=after, drug=pump.drug
        )
    return RefillOutcome(refill.at, reading.measured_ml, true_before, after)


def _events(pump: SimulatedConstantFlowPump | SimulatedProgrammablePump) -> list[tuple[datetime, str]]:
    if isinstance(pump, SimulatedConstantFlowPump):
        return [(e.at, e.kind.value) for e in pump.events]
    found: list[tuple[datetime, str]] = []
    cursor, more = 0, True
    while more:
        page, cursor, more = pump.read_log(cursor, 64)
        for entry in page:
            detail = entry.data.get("code") or entry.data.get("state")
            found.append((entry.device_time_at, f"{entry.type.value} {detail}" if detail else entry.type.value))
    return found
