from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump_service.domain import (
    ConditionPeriod,
    DiscrepancyThresholds,
    LikelyCause,
    ReturnAssessment,
    assess_return,
    expected_residual_ml,
)
from pump_service.errors import RuleViolationError
from schemas.flow_law import FlowConditions
from schemas.pump_catalogue import get_pump_model
from schemas.refill import FlowClass

HAI = get_pump_model("hai-30")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
T14 = T0 + timedelta(days=14)


def hai_residual(days: float = 14.0, periods: tuple[ConditionPeriod, ...] = (), fill: float = 30.0) -> float:
    return expected_residual_ml(
        model=HAI,
        fill_volume_ml=fill,
        rate_ml_per_day=1.0,
        filled_at=T0,
        now=T0 + timedelta(days=days),
        periods=periods,
    )


def test_hai_pump_after_14_days_at_reference_conditions_holds_16_ml() -> None:
    assert hai_residual() == pytest.approx(16.0, abs=1e-9)


def test_returning_the_expected_residual_is_zero_deviation_and_ok() -> None:
    result = assess_return(fill_volume_ml=30, returned_volume_ml=16.0, expected_residual_ml=16.0, filled_at=T0, now=T14)
    assert result.deviation_pct == pytest.approx(0.0)
    assert result.flow_class is FlowClass.OK
    assert result.likely_causes == ()


def test_returning_19_ml_is_a_slow_pump_alert_pointing_at_occlusion() -> None:
    result = assess_return(fill_volume_ml=30, returned_volume_ml=19.0, expected_residual_ml=16.0, filled_at=T0, now=T14)
    assert result.measured_rate_ml_per_day == pytest.approx(0.786, abs=5e-4)
    assert result.deviation_pct == pytest.approx(-21.4, abs=0.05)
    assert result.flow_class is FlowClass.ALERT
    assert LikelyCause.CATHETER_OCCLUSION in result.likely_causes
    assert result.volume_delta_ml == pytest.approx(3.0)


def test_returning_too_little_points_at_fast_causes_including_pocket_fill() -> None:
    result = assess_return(fill_volume_ml=30, returned_volume_ml=14.4, expected_residual_ml=16.0, filled_at=T0, now=T14)
    assert result.flow_class is FlowClass.WARN  # +11.4 %
    assert LikelyCause.POCKET_FILL in result.likely_causes
    assert LikelyCause.CATHETER_OCCLUSION not in result.likely_causes


def test_nothing_aspirated_is_an_alert_with_its_own_causes_and_no_flow() -> None:
    result = assess_return(fill_volume_ml=30, returned_volume_ml=0.0, expected_residual_ml=16.0, filled_at=T0, now=T14)
    assert result.nothing_aspirated
    assert result.measured_rate_ml_per_day is None
    assert result.flow_class is FlowClass.ALERT
    assert set(result.likely_causes) == {
        LikelyCause.DRY_PUMP,
        LikelyCause.FLIPPED_PUMP,
        LikelyCause.NEEDLE_NOT_IN_RESERVOIR,
    }


@pytest.mark.parametrize(
    ("returned", "expected_class"),
    [
        pytest.param(16.0 - 1.4, FlowClass.OK, id="exactly 10 % is still ok"),
        pytest.param(16.0 - 1.41, FlowClass.WARN, id="just over 10 %"),
        pytest.param(16.0 - 2.8, FlowClass.WARN, id="exactly 20 % is warn"),
        pytest.param(16.0 - 2.81, FlowClass.ALERT, id="just over 20 %"),
    ],
)
def test_class_boundaries(returned: float, expected_class: FlowClass) -> None:
    result = assess_return(
        fill_volume_ml=30, returned_volume_ml=returned, expected_residual_ml=16.0, filled_at=T0, now=T14
    )
    assert result.flow_class is expected_class


def test_thresholds_are_configurable() -> None:
    result = assess_return(
        fill_volume_ml=30,
        returned_volume_ml=15.0,
        expected_residual_ml=16.0,
        filled_at=T0,
        now=T14,
        thresholds=DiscrepancyThresholds(warn_pct=5, alert_pct=8),  # 15 mL back: +7.1 %
    )
    assert result.flow_class is FlowClass.WARN
    with pytest.raises(ValueError, match="warn_pct"):
        DiscrepancyThresholds(warn_pct=20, alert_pct=10)


def test_a_fever_makes_the_pump_deliver_more() -> None:
    fever = (
        ConditionPeriod(T0 + timedelta(days=3), FlowConditions(body_temperature_c=39.0)),
        ConditionPeriod(T0 + timedelta(days=6), FlowConditions()),
    )
    law = HAI.flow_law
    assert law is not None
    extra = 3 * (HAI.flow_factor(FlowConditions(body_temperature_c=39.0)) - 1.0)
    assert hai_residual(periods=fever) == pytest.approx(16.0 - extra)


def test_a_period_that_began_before_the_fill_applies_from_the_fill() -> None:
    glycerin = (ConditionPeriod(T0 - timedelta(days=30), FlowConditions(relative_viscosity=4.0)),)
    assert hai_residual(periods=glycerin) == pytest.approx(30.0 - 14 * 0.25)


def test_periods_after_now_are_ignored() -> None:
    later = (ConditionPeriod(T0 + timedelta(days=20), FlowConditions(body_temperature_c=40.0)),)
    assert hai_residual(periods=later) == pytest.approx(16.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"fill_volume_ml": -1.0}, "fill_volume_ml", id="negative fill"),
        pytest.param({"fill_volume_ml": 31.0}, "fill_volume_ml", id="over capacity"),
        pytest.param({"rate_ml_per_day": -1.0}, "rate_ml_per_day", id="negative rate"),
        pytest.param({"now": T0}, "now", id="zero elapsed"),
        pytest.param({"now": T0 - timedelta(days=1)}, "now", id="negative elapsed"),
        pytest.param({"now": datetime(2026, 11, 16, 9, 0)}, "now", id="naive now"),  # noqa: DTZ001
        pytest.param({"filled_at": datetime(2026, 11, 2, 9, 0)}, "filled_at", id="naive fill time"),  # noqa: DTZ001
    ],
)
def test_impossible_residual_inputs_are_rule_violations(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {
        "model": HAI,
        "fill_volume_ml": 30.0,
        "rate_ml_per_day": 1.0,
        "filled_at": T0,
        "now": T14,
        **kwargs,
    }
    with pytest.raises(RuleViolationError) as info:
        expected_residual_ml(**arguments)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("returned", "expected", "field"),
    [
        pytest.param(-1.0, 16.0, "returned_volume_ml", id="negative return"),
        pytest.param(31.0, 16.0, "returned_volume_ml", id="more returned than filled"),
        pytest.param(16.0, 40.0, "expected_residual_ml", id="impossible expectation"),
    ],
)
def test_impossible_returns_are_rule_violations(returned: float, expected: float, field: str) -> None:
    with pytest.raises(RuleViolationError) as info:
        assess_return(
            fill_volume_ml=30, returned_volume_ml=returned, expected_residual_ml=expected, filled_at=T0, now=T14
        )
    assert info.value.field == field


_PERIODS = st.lists(
    st.tuples(
        st.floats(min_value=0.01, max_value=40),
        st.floats(min_value=35, max_value=41),
        st.floats(min_value=500, max_value=800),
        st.floats(min_value=0.5, max_value=5),
    ),
    max_size=5,
)


def _periods(raw: list[tuple[float, float, float, float]]) -> tuple[ConditionPeriod, ...]:
    starts = sorted({round(day, 3) for day, *_ in raw})
    return tuple(
        ConditionPeriod(
            T0 + timedelta(days=start),
            FlowConditions(body_temperature_c=t, ambient_pressure_mmhg=p, relative_viscosity=v),
        )
        for start, (_, t, p, v) in zip(starts, raw, strict=False)
    )


@given(
    days=st.floats(min_value=0.01, max_value=60),
    more=st.floats(min_value=0, max_value=60),
    fill=st.floats(min_value=0, max_value=30),
    raw=_PERIODS,
)
def test_residual_is_never_negative_and_more_days_never_leave_more(
    days: float, more: float, fill: float, raw: list[tuple[float, float, float, float]]
) -> None:
    periods = _periods(raw)
    sooner = hai_residual(days, periods, fill)
    later = hai_residual(days + more, periods, fill)
    assert 0.0 <= later <= sooner + 1e-9
    assert sooner <= fill


@given(
    fill=st.floats(min_value=1, max_value=30),
    returned_fraction=st.floats(min_value=0, max_value=1),
    expected_fraction=st.floats(min_value=0, max_value=1),
    days=st.floats(min_value=0.1, max_value=60),
)
def test_assessment_is_consistent(fill: float, returned_fraction: float, expected_fraction: float, days: float) -> None:
    result = assess_return(
        fill_volume_ml=fill,
        returned_volume_ml=fill * returned_fraction,
        expected_residual_ml=fill * expected_fraction,
        filled_at=T0,
        now=T0 + timedelta(days=days),
    )
    if result.measured_rate_ml_per_day is not None:
        assert result.measured_rate_ml_per_day >= 0
        assert result.measured_rate_ml_per_day * days == pytest.approx(fill - fill * returned_fraction, abs=1e-6)
    if result.flow_class is not FlowClass.OK:
        assert result.likely_causes


def test_a_stopped_pump_returning_its_fill_to_the_syringe_graduation_is_ok() -> None:
    filled = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def stopped(returned: float, programmable: bool = False) -> ReturnAssessment:
        return assess_return(
            fill_volume_ml=20.0,
            returned_volume_ml=returned,
            expected_residual_ml=20.0,
            filled_at=filled,
            now=filled + timedelta(days=10),
            resolution_ml=0.1,
            programmable=programmable,
        )

    assert stopped(19.9).flow_class is FlowClass.OK
    lost = stopped(18.0, programmable=True)
    assert lost.flow_class is FlowClass.ALERT
    assert "fever_heat_or_altitude" not in lost.likely_causes  # a motor-driven pump ignores the weather
    assert "patient_boluses" in lost.likely_causes
