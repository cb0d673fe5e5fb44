"""Simulator figures: fleet pump-days per second of wall time (the issue's target: >= 1,000,000)."""

import time
from datetime import UTC, datetime, timedelta

from bench import Result
from simulators.clock import ManualClock
from simulators.constant_flow import SimulatedConstantFlowPump
from simulators.fleet import FleetRunner
from simulators.patients import random_fleet

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PUMPS = 10_000
DAYS = 365


def _fleet_rate(*, constant_conditions: bool) -> float:
    members = random_fleet(PUMPS, seed=1, start=T0, days=DAYS, constant_conditions=constant_conditions)
    best = 0.0
    for _ in range(3):
        runner = FleetRunner(members, start=T0)
        started = time.perf_counter()
        runner.run(DAYS, step_days=1.0, refill_every_days=14.0)
        best = max(best, PUMPS * DAYS / (time.perf_counter() - started))
    return best


def _single_pump_rate() -> float:
    clock = ManualClock(T0)
    members = random_fleet(1, seed=3, start=T0, days=DAYS)
    pump = SimulatedConstantFlowPump(members[0].model, clock=clock, timeline=members[0].timeline, volume_ml=30.0)
    started = time.perf_counter()
    for day in range(1, DAYS + 1):
        clock.advance(timedelta(days=1))
        pump.sync()
        if day % 14 == 0:
            pump.aspirate()
            pump.fill(30.0)
    return DAYS / (time.perf_counter() - started)


def run() -> list[Result]:
    return [
        Result("simulators.fleet_10k_constant_conditions", _fleet_rate(constant_conditions=True), "pump-days/s", True),
        Result("simulators.fleet_10k_random_conditions", _fleet_rate(constant_conditions=False), "pump-days/s", True),
        Result("simulators.single_pump_daily_steps", _single_pump_rate(), "pump-days/s", True),
    ]
