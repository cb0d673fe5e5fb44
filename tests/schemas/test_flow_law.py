import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.flow_law import (
    REFERENCE_CONDITIONS,
    FlowConditions,
    advance_volume,
    ambient_pressure_mmhg,
    days_until_volume,
)
from schemas.pump_catalogue import PUMP_MODELS, get_pump_model

HAI = get_pump_model("hai-30")


def test_reference_conditions_give_the_nominal_flow() -> None:
    for model in PUMP_MODELS.values():
        assert model.flow_factor(REFERENCE_CONDITIONS) == pytest.approx(1.0)


def test_standard_atmosphere() -> None:
    assert ambient_pressure_mmhg(0) == pytest.approx(760.0)
    # about 27 mmHg lower per 1,000 ft near sea level
    assert 760 - ambient_pressure_mmhg(304.8) == pytest.approx(27.1, abs=0.2)


def test_hai_pump_sensitivities_match_the_documented_placeholders() -> None:
    law = HAI.flow_law
    assert law is not None
    assert law.temperature_sensitivity_pct_per_c() == pytest.approx(13.0, abs=0.1)
    assert law.altitude_sensitivity_pct_per_1000_ft() == pytest.approx(8.7, abs=0.1)


def test_fever_and_altitude_speed_the_pump_up_and_diving_and_glycerin_slow_it() -> None:
    assert HAI.flow_factor(FlowConditions(body_temperature_c=39.0)) > 1.2
    assert HAI.flow_factor(FlowConditions.at_altitude(2438.4)) > 1.5  # 8,000 ft cabin
    assert HAI.flow_factor(FlowConditions(ambient_pressure_mmhg=760 + 300)) < 0.1  # ~4 m under water
    assert HAI.flow_factor(FlowConditions(relative_viscosity=4.0)) == pytest.approx(0.25)


def test_flow_never_reverses() -> None:
    assert HAI.flow_factor(FlowConditions(ambient_pressure_mmhg=2500)) == 0.0


def test_programmable_pumps_ignore_conditions() -> None:
    assert get_pump_model("programmable-20").flow_factor(FlowConditions(body_temperature_c=40)) == 1.0


def test_linear_delivery_above_the_taper() -> None:
    assert advance_volume(30.0, 1.0, 14.0, near_empty_ml=1.0) == pytest.approx(16.0, abs=1e-12)


def test_taper_takes_twice_as_long_to_empty_the_last_millilitres() -> None:
    assert days_until_volume(1.0, 0.0, 1.0, near_empty_ml=1.0) == pytest.approx(2.0)
    assert advance_volume(1.0, 1.0, 2.0, near_empty_ml=1.0) == 0.0
    assert 0 < advance_volume(1.0, 1.0, 1.0, near_empty_ml=1.0) < 1.0


def test_negative_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        advance_volume(-1.0, 1.0, 1.0)


_VOLUME = st.floats(min_value=0, max_value=60)
_RATE = st.floats(min_value=0, max_value=25)
_DAYS = st.floats(min_value=0, max_value=400)
_KNEE = st.sampled_from([0.0, 0.5, 1.0, 3.0])


@given(volume=_VOLUME, rate=_RATE, days=_DAYS, more=_DAYS, knee=_KNEE)
def test_volume_never_negative_never_rises_and_more_days_never_leave_more(
    volume: float, rate: float, days: float, more: float, knee: float
) -> None:
    after = advance_volume(volume, rate, days, knee)
    later = advance_volume(volume, rate, days + more, knee)
    assert 0.0 <= later <= after <= volume


@given(volume=_VOLUME, rate=_RATE, first=_DAYS, second=_DAYS, knee=_KNEE)
def test_advancing_in_two_steps_equals_one_step(
    volume: float, rate: float, first: float, second: float, knee: float
) -> None:
    two_steps = advance_volume(advance_volume(volume, rate, first, knee), rate, second, knee)
    assert math.isclose(two_steps, advance_volume(volume, rate, first + second, knee), abs_tol=1e-9)


@given(
    volume=st.floats(min_value=0.1, max_value=60),
    target=st.floats(min_value=0, max_value=60),
    rate=st.floats(min_value=0.01, max_value=25),
    knee=_KNEE,
)
def test_days_until_volume_inverts_advance_volume(volume: float, target: float, rate: float, knee: float) -> None:
    days = days_until_volume(volume, target, rate, knee)
    if target >= volume:
        assert days == 0
    else:
        assert math.isclose(advance_volume(volume, rate, days, knee), target, abs_tol=1e-7)


@given(temperature=st.floats(min_value=30, max_value=45), warmer=st.floats(min_value=0, max_value=3))
def test_warmer_is_never_slower(temperature: float, warmer: float) -> None:
    cooler = HAI.flow_factor(FlowConditions(body_temperature_c=temperature))
    hotter = HAI.flow_factor(FlowConditions(body_temperature_c=min(45.0, temperature + warmer)))
    assert hotter >= cooler
