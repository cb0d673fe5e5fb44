from datetime import timedelta

import pytest

from schemas.flow_law import FT_PER_M, FlowConditions
from schemas.pump_catalogue import get_pump_model
from simulators.clock import ManualClock
from simulators.conditions import Episode, PatientTimeline
from simulators.constant_flow import PumpEventKind, SimulatedConstantFlowPump
from simulators.pump_faults import Leak, Occlusion, PocketFill, RestrictorPrecipitate
from tests.support import T0

HAI = get_pump_model("hai-30")


def _pump(clock: ManualClock, **kwargs: object) -> SimulatedConstantFlowPump:
    return SimulatedConstantFlowPump(HAI, clock=clock, unit_factor=1.0, volume_ml=30.0, **kwargs)  # type: ignore[arg-type]


def test_fourteen_days_at_reference_conditions_leave_sixteen_ml() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    clock.advance(timedelta(days=14))
    pump.sync()
    assert pump.volume_ml == pytest.approx(16.0, abs=0.01)
    assert pump.delivered_ml == pytest.approx(14.0, abs=0.01)


def test_a_two_degree_fever_for_three_days_delivers_26_5_percent_more_over_those_days() -> None:
    # Model figure (hai-30 placeholder propellant): flow factor 1.2646 at 39 degC.
    fever = Episode("fever", T0 + timedelta(days=2), T0 + timedelta(days=5), body_temperature_c=39.0)
    clock = ManualClock(T0)
    pump = _pump(clock, timeline=PatientTimeline(episodes=(fever,)))
    clock.set(fever.start_at)
    pump.sync()
    before = pump.delivered_ml
    clock.set(fever.end_at)
    pump.sync()
    during = pump.delivered_ml - before
    assert during / 3.0 == pytest.approx(HAI.flow_factor(FlowConditions(body_temperature_c=39.0)))
    assert during == pytest.approx(3.0 * 1.2646, abs=1e-3)


def test_six_hours_at_8000_ft_cabin_altitude_deliver_63_percent_more() -> None:
    flight = Episode.at_altitude("flight", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=6), 8000 / FT_PER_M)
    clock = ManualClock(T0)
    pump = _pump(clock, timeline=PatientTimeline(episodes=(flight,)))
    clock.set(flight.start_at)
    pump.sync()
    before = pump.delivered_ml
    clock.set(flight.end_at)
    pump.sync()
    assert (pump.delivered_ml - before) / 0.25 == pytest.approx(1.6306, abs=1e-3)


def test_a_late_refill_reaches_the_floor_then_runs_dry_once_each_with_a_taper() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    clock.advance(timedelta(days=40))
    pump.sync()
    kinds = [e.kind for e in pump.events]
    assert kinds == [PumpEventKind.RESIDUAL_FLOOR, PumpEventKind.DRY]
    assert pump.events[0].at == T0 + timedelta(days=28)
    # 29 days linear to the 1 mL knee, then the taper takes twice as long for the last millilitre
    assert pump.events[1].at == T0 + timedelta(days=31)
    assert pump.volume_ml == 0.0
    assert pump.dry_s == pytest.approx(9 * 86_400)


def test_stepping_in_small_steps_gives_the_same_state_as_one_step() -> None:
    fever = Episode("fever", T0 + timedelta(hours=30), T0 + timedelta(hours=80), body_temperature_c=38.5)
    coarse_clock, fine_clock = ManualClock(T0), ManualClock(T0)
    coarse = _pump(coarse_clock, timeline=PatientTimeline(episodes=(fever,)))
    fine = _pump(fine_clock, timeline=PatientTimeline(episodes=(fever,)))
    coarse_clock.advance(timedelta(days=33))
    coarse.sync()
    for _ in range(33 * 24):
        fine_clock.advance(3600)
        fine.sync()
    assert fine.volume_ml == pytest.approx(coarse.volume_ml, abs=1e-9)
    assert [e.kind for e in fine.events] == [e.kind for e in coarse.events]
    for a, b in zip(fine.events, coarse.events, strict=True):
        assert abs((a.at - b.at).total_seconds()) < 1e-3


def test_unit_spread_is_seeded_and_within_the_model_spread() -> None:
    factors = [SimulatedConstantFlowPump(HAI, clock=ManualClock(T0), seed=s).unit_factor for s in range(200)]
    assert all(0.9 <= f <= 1.1 for f in factors)
    assert len(set(factors)) == 200
    assert SimulatedConstantFlowPump(HAI, clock=ManualClock(T0), seed=7).unit_factor == factors[7]


def test_total_occlusion_stops_flow_and_partial_halves_it() -> None:
    clock = ManualClock(T0)
    total = _pump(clock, faults=(Occlusion(T0 + timedelta(days=2)),))
    half = _pump(clock, faults=(Occlusion(T0, remaining_flow=0.5, end_at=T0 + timedelta(days=4)),))
    clock.advance(timedelta(days=10))
    total.sync()
    half.sync()
    assert total.volume_ml == pytest.approx(28.0)
    assert half.volume_ml == pytest.approx(30.0 - 2.0 - 6.0)


def test_precipitate_narrows_the_restrictor_day_by_day() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock, faults=(RestrictorPrecipitate(T0, daily_flow_loss=0.1),))
    clock.advance(timedelta(days=3))
    pump.sync()
    assert pump.delivered_ml == pytest.approx(1.0 + 0.9 + 0.81)


def test_a_leak_loses_fluid_that_is_not_delivered() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock, faults=(Leak(T0, rate_ml_per_day=0.5),))
    clock.advance(timedelta(days=10))
    pump.sync()
    assert pump.delivered_ml == pytest.approx(10.0)
    assert pump.leaked_ml == pytest.approx(5.0)
    assert pump.volume_ml == pytest.approx(15.0)


def test_aspiration_reads_the_syringe_and_can_be_incomplete() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    clock.advance(timedelta(days=14, hours=1))
    reading = pump.aspirate(resolution_ml=0.5, completeness=0.9)
    assert reading.removed_ml == pytest.approx(0.9 * (16.0 - 1 / 24))
    assert reading.measured_ml == 14.5
    assert pump.volume_ml == pytest.approx(0.1 * (16.0 - 1 / 24))


def test_a_pocket_fill_diverts_part_of_the_next_fill_only() -> None:
    clock = ManualClock(T0)
    pump = SimulatedConstantFlowPump(HAI, clock=clock, unit_factor=1.0, faults=(PocketFill(T0, fraction=0.25),))
    assert pump.fill(20.0) == pytest.approx(15.0)
    assert pump.pocket_ml == pytest.approx(5.0)
    pump.aspirate()
    assert pump.fill(20.0) == pytest.approx(20.0)


def test_overfilling_is_refused_and_changes_nothing() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    with pytest.raises(ValueError, match="does not fit"):
        pump.fill(5.0)
    assert pump.volume_ml == 30.0
    with pytest.raises(ValueError, match="backwards"):
        pump.advance_to(T0 - timedelta(seconds=1))
