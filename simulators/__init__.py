"""Deterministic simulated pumps, patients and programmer for tests and the test bench.

Runs in virtual time on an injected clock; imports ``schemas`` (and the ``drivers`` codec), never
``pump_service``. docs/simulators.md describes the models and the scenario format.
"""

from simulators.clock import ManualClock
from simulators.conditions import Episode, PatientState, PatientTimeline
from simulators.constant_flow import PumpEvent, PumpEventKind, SimulatedConstantFlowPump
from simulators.event_log import LOG_CAPACITY, PumpEventLog
from simulators.fleet import FleetEventKind, FleetRunner, FleetTruth
from simulators.needle import Aspiration
from simulators.patients import FleetMember, random_fleet, random_timeline
from simulators.programmable import PumpCommandError, SimulatedProgrammablePump
from simulators.pump_faults import Leak, MotorStall, Occlusion, PocketFill, PumpFault, RestrictorPrecipitate
from simulators.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from simulators.scenario_run import ScenarioRun, run_scenario

__all__ = [
    "LOG_CAPACITY",
    "Aspiration",
    "Episode",
    "FleetEventKind",
    "FleetMember",
    "FleetRunner",
    "FleetTruth",
    "Leak",
    "ManualClock",
    "MotorStall",
    "Occlusion",
    "PatientState",
    "PatientTimeline",
    "PocketFill",
    "PumpCommandError",
    "PumpEvent",
    "PumpEventKind",
    "PumpEventLog",
    "PumpFault",
    "RestrictorPrecipitate",
    "Scenario",
    "ScenarioError",
    "ScenarioRun",
    "SimulatedConstantFlowPump",
    "SimulatedProgrammablePump",
    "load_scenario",
    "parse_scenario",
    "random_fleet",
    "random_timeline",
    "run_scenario",
]
