"""The fleet's set-up: flow factors computed once per distinct condition, W as its definition says."""

from datetime import timedelta
from typing import Any

import numpy as np
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.flow_law import FlowConditions, PropellantFlowLaw
from schemas.pump_catalogue import PUMP_MODELS, get_pump_model
from simulators.conditions import Episode, PatientState, PatientTimeline
from simulators.fleet import CROSSING_SLACK_ML, FleetRunner, _advance_volumes_quickly, advance_volumes
from simulators.flow_factors import flow_factors
from simulators.flow_work import FlowWork
from simulators.patients import FleetMember, random_fleet
from tests.support import T0

_TEMPERATURES = st.floats(min_value=30.0, max_value=45.0)
_PRESSURES = st.floats(min_value=100.0, max_value=3000.0, exclude_min=True)
_VOLUMES_ML = st.floats(min_value=0.0, max_value=60.0)
_STATES = st.lists(st.tuples(_TEMPERATURES, _PRESSURES), min_size=1, max_size=40)


@given(
    model_id=st.sampled_from(sorted(PUMP_MODELS)),
    states=_STATES,
    viscosity=st.floats(min_value=0.01, max_value=100.0),
)
def test_vectorised_factors_equal_the_scalar_law_exactly(
    model_id: str, states: list[tuple[float, float]], viscosity: float
) -> None:
    model = get_pump_model(model_id)
    temperatures, pressures = (np.array(column) for column in zip(*states, strict=True))
    fast = flow_factors(model, temperatures, pressures, viscosity)
    slow = [
        model.flow_factor(FlowConditions(body_temperature_c=t, ambient_pressure_mmhg=p, relative_viscosity=viscosity))
        for t, p in states
    ]
    assert fast.tolist() == slow


@pytest.mark.parametrize(("temperature", "pressure"), [(29.0, 760.0), (46.0, 760.0), (37.0, 100.0), (37.0, np.nan)])
def test_a_condition_the_law_refuses_is_refused_among_valid_ones(temperature: float, pressure: float) -> None:
    with pytest.raises(pydantic.ValidationError):
        flow_factors(get_pump_model("hai-30"), np.array([37.0, temperature, 38.0]), np.array([760.0, pressure, 700.0]))


def test_set_up_computes_the_vapour_pressure_once_per_distinct_temperature(monkeypatch: pytest.MonkeyPatch) -> None:
    members = random_fleet(200, seed=4, start=T0, days=365)
    temperatures = {s.body_temperature_c for m in members for _, s in m.timeline.change_points}
    temperatures.add(PatientState().body_temperature_c)
    calls: list[float] = []
    law_method = PropellantFlowLaw.vapour_pressure_mmhg

    def counted(self: PropellantFlowLaw, temperature_c: float) -> float:
        calls.append(temperature_c)
        return law_method(self, temperature_c)

    monkeypatch.setattr(PropellantFlowLaw, "vapour_pressure_mmhg", counted)
    FleetRunner(members, start=T0)
    points = sum(len(m.timeline.change_points) for m in members)
    assert points > 5 * len(temperatures)  # the fleet has many more change points than temperatures
    assert sorted(calls) == sorted(temperatures)


def test_set_up_validates_conditions_in_a_few_models_not_one_per_change(monkeypatch: pytest.MonkeyPatch) -> None:
    members = random_fleet(200, seed=4, start=T0, days=365)
    built: list[dict[str, Any]] = []
    original = FlowConditions.__init__

    def counted(self: FlowConditions, **values: Any) -> None:
        built.append(values)
        original(self, **values)

    monkeypatch.setattr(FlowConditions, "__init__", counted)
    FleetRunner(members, start=T0)
    assert len(built) <= 2  # the extremes of all the fleet's conditions, one model of pump


def _work_by_definition(member: FleetMember, t: float) -> float:
    """W(t) as the flow law integrated segment by segment from the member's own timeline.

    The segments' excesses are summed in order, then added to the baseline's share (the order the
    fleet has always used, so the comparison can be exact).
    """
    model = member.model
    base = model.flow_factor(member.timeline.baseline.conditions())
    excess = 0.0
    changes = member.timeline.change_points
    days = [(moment - T0).total_seconds() / 86_400.0 for moment, _ in changes]
    ends = [*days[1:], np.inf][: len(days)]
    for begin, end, (_, state) in zip(days, ends, changes, strict=True):
        excess += (model.flow_factor(state.conditions()) - base) * float(np.clip(t - begin, 0.0, end - begin))
    return base * t + excess


def _mixed_members() -> list[FleetMember]:
    flights = PatientTimeline(
        episodes=(
            Episode.at_altitude("flight", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=5), 2400.0),
            Episode("fever", T0 + timedelta(days=2, hours=3), T0 + timedelta(days=4), body_temperature_c=39.5),
            Episode("fever", T0 - timedelta(days=1), T0 + timedelta(hours=6), body_temperature_c=38.2),
        )
    )
    programmable = FleetMember("PP-1", get_pump_model("programmable-20"), 1.01, 0.5, flights)
    cf_50 = FleetMember("CF-1", get_pump_model("cf-50"), 0.97, 3.0, flights)
    return [*random_fleet(12, seed=8, start=T0, days=30), programmable, cf_50]


@given(steps=st.lists(st.floats(min_value=0.0, max_value=6.0), min_size=1, max_size=12))
def test_flow_work_by_cursor_equals_its_definition_exactly(steps: list[float]) -> None:
    members = _mixed_members()
    work = FlowWork(members, T0)
    t = 0.0
    for step in steps:
        t += step
        fast = work.at(np.full(len(members), t))
        assert fast.tolist() == [_work_by_definition(m, t) for m in members]


def test_flow_work_for_some_pumps_leaves_the_others_where_they_were() -> None:
    members = _mixed_members()
    work = FlowWork(members, T0)
    some = np.array([1, 12, 13], dtype=np.int64)
    assert work.at(np.array([3.0, 2.5, 5.0]), some).tolist() == [
        _work_by_definition(members[1], 3.0),
        _work_by_definition(members[12], 2.5),
        _work_by_definition(members[13], 5.0),
    ]
    assert work.at(np.full(len(members), 6.0)).tolist() == [_work_by_definition(m, 6.0) for m in members]


@given(
    rows=st.lists(
        st.tuples(_VOLUMES_ML, st.floats(min_value=-1e-12, max_value=40.0), st.sampled_from([0.0, 0.5, 1.0, 3.0])),
        min_size=1,
        max_size=30,
    )
)
def test_the_quick_volume_law_equals_the_full_one_bit_for_bit(rows: list[tuple[float, float, float]]) -> None:
    volume, work, knee = (np.array(column) for column in zip(*rows, strict=True))
    quick = _advance_volumes_quickly(volume, work, knee + CROSSING_SLACK_ML, knee)
    assert quick.tobytes() == advance_volumes(volume, work, knee).tobytes()
