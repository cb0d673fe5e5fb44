import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.flow_law import advance_volume, days_until_volume
from schemas.pump_catalogue import get_pump_model
from simulators.fleet import FleetEventKind, FleetRunner, advance_volumes, work_to_volume
from simulators.fleet_reference import reference_events
from simulators.patients import FleetMember, random_fleet
from tests.support import T0

_VOLUMES = st.floats(min_value=0, max_value=60)
_WORK = st.floats(min_value=0, max_value=100)
_KNEES = st.sampled_from([0.0, 0.5, 1.0, 3.0])


@given(volume=_VOLUMES, work=_WORK, knee=_KNEES)
def test_vectorised_volume_law_equals_the_scalar_one(volume: float, work: float, knee: float) -> None:
    fast = advance_volumes(np.array([volume]), np.array([work]), np.array([knee]))[0]
    assert fast == pytest.approx(advance_volume(volume, 1.0, work, knee), abs=1e-9)


@given(volume=_VOLUMES, target=st.floats(min_value=0, max_value=60), knee=_KNEES)
def test_vectorised_inverse_equals_the_scalar_one(volume: float, target: float, knee: float) -> None:
    fast = work_to_volume(np.array([volume]), target, np.array([knee]))[0]
    assert fast == pytest.approx(days_until_volume(volume, target, 1.0, knee), abs=1e-9)


def _mixed_fleet() -> tuple[list[FleetMember], list[list[float]]]:
    constant = random_fleet(24, seed=11, start=T0, days=120, model_id="hai-30")
    programmable = [
        FleetMember(f"PP-{i}", get_pump_model("programmable-20"), 1.0 + 0.02 * (i - 3), 0.4 + 0.1 * i, m.timeline)
        for i, m in enumerate(random_fleet(6, seed=12, start=T0, days=120, model_id="programmable-20"))
    ]
    rng = random.Random(5)
    # Deliberately late and irregular schedules so that pumps reach the floor and run dry.
    schedule = [sorted(rng.uniform(10, 120) for _ in range(rng.randint(1, 4))) for _ in range(30)]
    return [*constant, *programmable], schedule


def test_fleet_events_match_the_slow_reference_exactly() -> None:
    members, schedule = _mixed_fleet()
    truth = FleetRunner(members, start=T0).run(120, step_days=1.0, refill_days=schedule)
    fleet = sorted(zip(truth.event_pump.tolist(), truth.event_kind.tolist(), truth.event_at_days.tolist(), strict=True))
    reference = sorted(
        (p, int(k), d) for p, k, d in reference_events(members, start=T0, days=120, refill_days=schedule)
    )
    assert [(p, k) for p, k, _ in fleet] == [(p, k) for p, k, _ in reference]
    assert np.allclose([d for *_, d in fleet], [d for *_, d in reference], rtol=0, atol=1e-6)
    kinds = {k for _, k, _ in fleet}
    assert kinds == {FleetEventKind.ALARM, FleetEventKind.EMPTY_ALARM, FleetEventKind.DRY}


def test_step_size_does_not_change_the_truth() -> None:
    members, schedule = _mixed_fleet()
    daily = FleetRunner(members, start=T0).run(120, step_days=1.0, refill_days=schedule)
    weekly = FleetRunner(members, start=T0).run(120, step_days=7.0, refill_days=schedule)
    for kind in FleetEventKind:
        by_day, by_week = daily.events_of(kind), weekly.events_of(kind)
        assert [p for p, _ in by_day] == [p for p, _ in by_week]
        assert np.allclose([d for _, d in by_day], [d for _, d in by_week], atol=1e-9)
    assert np.allclose(daily.dry_days, weekly.dry_days, atol=1e-9)


def test_hai_pumps_refilled_every_14_days_never_alarm_and_volumes_are_traced() -> None:
    members = random_fleet(50, seed=1, start=T0, days=56, constant_conditions=True)
    truth = FleetRunner(members, start=T0).run(56, refill_every_days=14, record_volumes=True)
    assert truth.event_pump.size == 0
    assert truth.volume_ml is not None
    assert truth.volume_ml.shape == (50, 57)
    factors = np.array([m.unit_factor for m in members])
    assert truth.volume_ml[:, 13] == pytest.approx(30.0 - 13 * factors, abs=1e-4)
    assert truth.volume_ml[:, 14] == pytest.approx(30.0)  # a refill at the step end is in the sample


def test_dry_time_is_counted_until_the_refill() -> None:
    members = random_fleet(1, seed=2, start=T0, days=60, constant_conditions=True)
    factor = members[0].unit_factor
    truth = FleetRunner(members, start=T0).run(60, refill_days=[[40.0]])
    dry_at = 29.0 / factor + 2.0 / factor  # linear to the 1 mL knee, then twice as long to empty
    [(pump, day)] = truth.events_of(FleetEventKind.DRY)
    assert pump == 0
    assert day == pytest.approx(dry_at)
    assert truth.dry_days[0] == pytest.approx(40.0 - dry_at)


def test_same_seed_same_fleet_byte_for_byte() -> None:
    first = random_fleet(40, seed=9, start=T0, days=365)
    second = random_fleet(40, seed=9, start=T0, days=365)
    assert first == second
    run_a = FleetRunner(first, start=T0).run(365, refill_every_days=30)
    run_b = FleetRunner(second, start=T0).run(365, refill_every_days=30)
    assert run_a.event_at_days.tobytes() == run_b.event_at_days.tobytes()
    assert random_fleet(40, seed=10, start=T0, days=365) != first


def test_bad_schedules_are_refused() -> None:
    members = random_fleet(2, seed=3, start=T0, days=10)
    runner = FleetRunner(members, start=T0)
    with pytest.raises(ValueError, match="one list per pump"):
        runner.run(10, refill_days=[[5.0]])
    with pytest.raises(ValueError, match="not both"):
        runner.run(10, refill_days=[[5.0], [5.0]], refill_every_days=3)
    runner.advance(5.0)
    with pytest.raises(ValueError, match="backwards"):
        runner.advance(4.0)
