import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.units import (
    KINDS,
    UNIT_ALIASES,
    ConcUspUPerMl,
    RateMlPerDay,
    UnitError,
    VolumeMl,
    format_quantity,
    parse_quantity,
    to_canonical,
    ureg,
)


class Fields(BaseModel):
    volume_ml: VolumeMl
    rate_ml_per_day: RateMlPerDay
    heparin_usp_u_per_ml: ConcUspUPerMl | None = None


def test_rate_in_ml_per_hour_is_converted_to_ml_per_day() -> None:
    assert to_canonical("2.5 mL/h", "rate") == pytest.approx(60.0)


def test_mass_given_as_a_volume_is_an_error_naming_the_volume_dimension() -> None:
    with pytest.raises(UnitError, match=r"\[volume\]") as info:
        to_canonical("5 mg", "volume")
    assert "[mass]" in str(info.value)


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        pytest.param("30 mL", "volume", 30.0, id="mL"),
        pytest.param("0.03 L", "volume", 30.0, id="litre"),
        pytest.param("30 cc", "volume", 30.0, id="cc"),
        pytest.param("0.5 mL/d", "rate", 0.5, id="mL/d"),
        pytest.param("3.5 mL/wk", "rate", 0.5, id="mL/week"),
        pytest.param("2000 ug/mL", "mass_concentration", 2.0, id="ug/mL"),
        pytest.param("150 mcg/day", "mass_rate", 0.15, id="mcg/day"),
        pytest.param("0.12 mg/kg/d", "weight_based_dose", 0.12, id="mg/kg/d"),
        pytest.param("1000 U/mL", "activity_concentration", 1000.0, id="heparin U/mL"),
        pytest.param("30000 units", "activity", 30000.0, id="heparin units"),
        pytest.param("98.6 degF", "temperature", 37.0, id="fahrenheit"),
        pytest.param("1000 ft", "altitude", 304.8, id="feet"),
        pytest.param("101.325 kPa", "pressure", 760.0, id="kPa"),
        pytest.param("154 lb", "body_mass", 69.85, id="pounds"),
    ],
)
def test_accepted_spellings(text: str, kind: str, expected: float) -> None:
    assert to_canonical(text, kind) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("5", id="no unit"),
        pytest.param("mL", id="no number"),
        pytest.param("5 parsecs", id="unknown unit"),
        pytest.param("5 mg kg", id="two words"),
        pytest.param("5 mL/", id="dangling slash"),
        pytest.param("1e999 mL", id="overflow"),
        pytest.param("nan mL", id="nan"),
        pytest.param("1,5 mL", id="decimal comma"),
        pytest.param("", id="empty"),
    ],
)
def test_unreadable_quantities_are_unit_errors(text: str) -> None:
    with pytest.raises(UnitError):
        to_canonical(text, "volume")


def test_heparin_units_are_their_own_dimension_never_pints_enzyme_unit() -> None:
    heparin = parse_quantity("1000 U")
    assert heparin.dimensionality == ureg.Unit("USP_unit").dimensionality
    assert heparin.dimensionality != ureg.Unit("enzyme_unit").dimensionality
    with pytest.raises(UnitError, match=r"\[volume\]"):
        to_canonical("1000 U", "volume")
    with pytest.raises(UnitError):
        to_canonical("1000 U/mL", "mass_concentration")


def test_heparin_rate_converts_within_its_dimension() -> None:
    per_day = float((parse_quantity("1000 USP_U/mL") * parse_quantity("2.5 mL/h")).m_as("USP_unit/day"))
    assert per_day == pytest.approx(60_000)


def test_model_fields_accept_strings_or_canonical_numbers() -> None:
    model = Fields(volume_ml="0.02 L", rate_ml_per_day=0.5)
    assert (model.volume_ml, model.rate_ml_per_day) == (20.0, 0.5)
    assert model.model_dump() == {"volume_ml": 20.0, "rate_ml_per_day": 0.5, "heparin_usp_u_per_ml": None}


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"volume_ml": "5 mg", "rate_ml_per_day": 1}, id="wrong dimension"),
        pytest.param({"volume_ml": -1, "rate_ml_per_day": 1}, id="negative volume"),
        pytest.param({"volume_ml": "-1 mL", "rate_ml_per_day": 1}, id="negative string"),
        pytest.param({"volume_ml": True, "rate_ml_per_day": 1}, id="boolean"),
        pytest.param({"volume_ml": [1], "rate_ml_per_day": 1}, id="list"),
        pytest.param({"volume_ml": float("inf"), "rate_ml_per_day": 1}, id="infinite"),
        pytest.param({"volume_ml": 1, "rate_ml_per_day": 1, "heparin_usp_u_per_ml": "5 mg/mL"}, id="mg for heparin"),
    ],
)
def test_model_fields_reject_bad_input_with_the_field_named(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        Fields.model_validate(bad)
    locations = {error["loc"][0] for error in info.value.errors()}
    assert locations & {"volume_ml", "heparin_usp_u_per_ml"}


def test_every_alias_parses_to_a_known_kind() -> None:
    for alias in UNIT_ALIASES:
        quantity = parse_quantity(f"1 {alias}")
        assert quantity.magnitude == 1


def test_format_quantity_uses_protocol_spellings() -> None:
    assert format_quantity(11.84, "volume") == "11.84 mL"
    assert format_quantity(20.0, "volume") == "20 mL"
    assert format_quantity(0.5, "rate") == "0.5 mL/d"
    assert format_quantity(0.0024, "mass_rate", "ug/d") == "2.4 ug/d"
    assert format_quantity(0.0, "volume") == "0 mL"


_FINITE = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(value=_FINITE, kind=st.sampled_from(sorted(k for k in KINDS if k != "temperature")))
def test_format_then_parse_round_trips(value: float, kind: str) -> None:
    text = format_quantity(value, kind, digits=12)
    assert math.isclose(to_canonical(text, kind), value, rel_tol=1e-9, abs_tol=1e-9)


@given(value=st.floats(min_value=-200, max_value=200, allow_nan=False))
def test_temperature_round_trips_through_fahrenheit(value: float) -> None:
    fahrenheit = parse_quantity(f"{value!r} degC").m_as("degree_Fahrenheit")
    assert to_canonical(f"{fahrenheit!r} degF", "temperature") == pytest.approx(value, abs=1e-9)


@given(text=st.text(max_size=30))
def test_arbitrary_text_never_raises_anything_but_unit_error(text: str) -> None:
    with contextlib.suppress(UnitError):
        to_canonical(text, "volume")
