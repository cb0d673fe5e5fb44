"""Simulator figures: fleet pump-days per second of wall time (the issue's target: >= 10,000,000).

A fleet figure times what a user of :class:`simulators.fleet.FleetRunner` waits for once the
patients exist: building the runner (its flat condition tables, flow factors and cursors) plus
the run, 10,000 pumps x 365 daily steps refilled every 14 days. Drawing the random patients
(``random_fleet``, which also resolves each timeline into change points) is the scenario, not
the runner, and is reported on its own as ``fleet_conditions.generate_s``.

``fleet_conditions.ratio_vs_reference`` is the runner's rate over that of a plain numpy loop
doing the same arithmetic in the same run (set-up included in both; above 1, the runner is the
faster): W by its definition, summed over every condition segment at every step, then the same
volume law. The reference's final volumes and event counts are checked against the runner's.
"""

import time
from datetime import UTC, datetime, timedelta

import numpy as np

from bench import Result
from bench.sizes import sized
from schemas.pump import PumpFamily
from simulators.clock import ManualClock
from simulators.constant_flow import SimulatedConstantFlowPump
from simulators.fleet import FleetRunner, advance_volumes
from simulators.flow_factors import flow_factors
from simulators.patients import FleetMember, random_fleet

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PUMPS = sized(10_000, 50)
DAYS = sized(365, 30)
REFILL_EVERY_DAYS = 14
REPEATS = sized(5, 1)  # best of: the machine is shared, the least disturbed run is the one to report


def _best_fleet_run(members: list[FleetMember]) -> tuple[float, float, FleetRunner]:
    """(best total seconds, set-up seconds of that run, its runner): set-up and run, best of REPEATS."""
    best = (float("inf"), 0.0)
    runner = None
    for _ in range(REPEATS):
        started = time.perf_counter()
        candidate = FleetRunner(members, start=T0)
        built = time.perf_counter()
        candidate.run(DAYS, step_days=1.0, refill_every_days=REFILL_EVERY_DAYS)
        done = time.perf_counter()
        if done - started < best[0]:
            best, runner = (done - started, built - started), candidate
    if runner is None:
        raise RuntimeError("no fleet run")
    return best[0], best[1], runner


def _reference_run(members: list[FleetMember]) -> tuple[np.ndarray, int]:
    """A plain loop over days (all constant-flow pumps of one model): final volumes and crossings."""
    model = members[0].model
    if any(m.model is not model or m.model.family is not PumpFamily.CONSTANT_FLOW for m in members):
        raise ValueError("the reference runs one constant-flow model")
    changes = [m.timeline.change_points for m in members]
    pump = np.repeat(np.arange(len(members)), [len(c) for c in changes])
    begin = np.array([(t - T0).total_seconds() / 86_400.0 for c in changes for t, _ in c])
    factor = flow_factors(
        model,
        np.array([s.body_temperature_c for c in changes for _, s in c]),
        np.array([s.ambient_pressure_mmhg for c in changes for _, s in c]),
    )
    base = flow_factors(
        model,
        np.array([m.timeline.baseline.body_temperature_c for m in members]),
        np.array([m.timeline.baseline.ambient_pressure_mmhg for m in members]),
    )
    last = np.append(pump[1:] != pump[:-1], True)
    length = np.where(last, np.inf, np.append(begin[1:], np.inf) - begin)
    excess = factor - base[pump]
    rate = np.array([m.rate_ml_per_day * m.unit_factor for m in members])
    knee = np.full(len(members), model.near_empty_ml)
    fill = np.full(len(members), model.capacity_ml)
    volume, work_before, crossings = fill.copy(), np.zeros(len(members)), 0
    for day in range(1, DAYS + 1):
        span = np.clip(day - begin, 0.0, length)
        work = base * day + np.bincount(pump, weights=excess * span, minlength=len(members))
        after = advance_volumes(volume, rate * (work - work_before), knee)
        for threshold in (model.low_reservoir_ml, 0.0):
            crossings += int(np.count_nonzero((volume > threshold) & (after <= threshold)))
        volume, work_before = after, work
        if day % REFILL_EVERY_DAYS == 0:
            volume = fill.copy()
    return volume, crossings


def _best_reference(members: list[FleetMember]) -> tuple[float, np.ndarray, int]:
    best, volume, crossings = float("inf"), np.zeros(0), 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        volume, crossings = _reference_run(members)
        best = min(best, time.perf_counter() - started)
    return best, volume, crossings


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
    pump_days = PUMPS * DAYS
    started = time.perf_counter()
    members = random_fleet(PUMPS, seed=1, start=T0, days=DAYS)
    generated = time.perf_counter() - started
    total, setup, runner = _best_fleet_run(members)
    reference_s, reference_volume, reference_crossings = _best_reference(members)
    truth = runner.truth(np.zeros(0), None)
    # a reference that computed something else would make the ratio a lie
    if not np.allclose(reference_volume, runner.true_ml, rtol=0.0, atol=1e-9):
        raise RuntimeError("the reference's final volumes differ from the runner's")
    if reference_crossings != truth.event_pump.size:
        raise RuntimeError(f"reference: {reference_crossings} threshold crossings, runner: {truth.event_pump.size}")
    constant = random_fleet(PUMPS, seed=1, start=T0, days=DAYS, constant_conditions=True)
    constant_total, constant_setup, _ = _best_fleet_run(constant)
    return [
        Result("fleet_conditions.pump_days_per_s", pump_days / total, "pump-days/s", True),
        Result("fleet_conditions.setup_s", setup, "s", False),
        Result("fleet_conditions.run_s", total - setup, "s", False),
        Result("fleet_conditions.generate_s", generated, "s", False),
        Result("fleet_conditions.reference_pump_days_per_s", pump_days / reference_s, "pump-days/s", True),
        Result("fleet_conditions.ratio_vs_reference", reference_s / total, "x", True),
        Result("fleet_constant.pump_days_per_s", pump_days / constant_total, "pump-days/s", True),
        Result("fleet_constant.setup_s", constant_setup, "s", False),
        Result("simulators.single_pump_daily_steps", _single_pump_rate(), "pump-days/s", True),
    ]
