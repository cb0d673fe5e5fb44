"""The JSON report: documented keys, plain JSON, and an exact round trip of what it wrote."""

import json
import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbench import report_json
from testbench.report_json import score_from_json, score_to_json
from testbench.score import (
    ClinicScore,
    DayLoad,
    FaultOutcome,
    Incident,
    IncidentCause,
    IncidentKind,
    PumpTrace,
    RunFacts,
)
from tests.testbench.test_report_scores import clinic_score


def _decimal(places: int, limit: int = 10**9) -> st.SearchStrategy[float]:
    """Floats that are already at the JSON's precision: what score_to_json writes, read back."""
    return st.integers(-limit, limit).map(lambda n: n / 10**places + 0.0)


def _any_float() -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


_TEXT = st.text(max_size=30)
_COUNT = st.integers(0, 10**6)


def _scores(number: st.SearchStrategy[float] | None) -> st.SearchStrategy[ClinicScore]:
    def f(places: int) -> st.SearchStrategy[float]:
        return _decimal(places) if number is None else number

    days = f(4)
    traces = st.builds(
        PumpTrace, serial=_TEXT, family=st.sampled_from(["programmable", "constant_flow"]), capacity_ml=f(3),
        alarm_ml=f(3), times_days=st.tuples(days, days), volume_ml=st.tuples(f(3), f(3)),
        bookings_days=st.lists(days, max_size=3).map(tuple), refills_days=st.lists(days, max_size=3).map(tuple),
    )  # fmt: skip
    return st.builds(
        ClinicScore,
        facts=st.builds(RunFacts, seed=st.integers(0, 2**63), days=_COUNT, programmable=_COUNT, constant_flow=_COUNT,
                        database=st.sampled_from(["sqlite", "postgresql"]), scenario=st.none() | _TEXT),
        patient_years=f(4), visits=_COUNT, visits_per_patient_year=f(4), alarms_before_refill=_COUNT,
        dry_pumps=_COUNT,
        incidents=st.lists(st.builds(Incident, serial=_TEXT, kind=st.sampled_from(IncidentKind), at_day=days,
                                     cause=st.sampled_from(IncidentCause), detail=_TEXT), max_size=3).map(tuple),
        faults=st.lists(st.builds(FaultOutcome, serial=_TEXT, kind=_TEXT, injected_day=days,
                                  detected_day=st.none() | days,
                                  finding_codes=st.lists(_TEXT, max_size=2).map(tuple)), max_size=3).map(tuple),
        detection_rate=st.none() | f(4), mean_days_to_detection=st.none() | days, false_alarms=_COUNT,
        hard_stops=_COUNT, safe_interval_fractions=st.lists(f(4), max_size=5).map(tuple),
        mean_safe_interval_fraction=st.none() | f(4), capacity_violations=_COUNT,
        capacity_per_day=st.lists(st.builds(DayLoad, day=_COUNT, booked=_COUNT, capacity=_COUNT),
                                  max_size=4).map(tuple),
        no_shows=_COUNT, no_show_escalations=_COUNT, charge_sets=_COUNT, visits_without_charges=_COUNT,
        visits_with_duplicate_charges=_COUNT, wall_s=f(3), simulated_pump_days_per_s=f(1),
        samples=st.lists(traces, max_size=2).map(tuple),
    )  # fmt: skip


def _through_text(document: dict[str, Any]) -> Any:
    return json.loads(json.dumps(document, allow_nan=False))


@given(_scores(None))
def test_a_score_at_the_documents_precision_survives_the_round_trip_exactly(score: ClinicScore) -> None:
    assert score_from_json(_through_text(score_to_json(score))) == score


@given(_scores(_any_float()))
def test_what_score_to_json_wrote_reads_back_to_the_same_document(score: ClinicScore) -> None:
    document = score_to_json(score)
    assert _through_text(document) == document  # plain JSON: nothing lost in the text
    assert score_to_json(score_from_json(_through_text(document))) == document


def test_floats_are_rounded_to_what_they_can_mean() -> None:
    score = clinic_score()
    document = score_to_json(score)
    assert document["patient_years"] == 4.9281  # 20 × 90 / 365.25
    assert document["detection_rate"] == 0.6667
    assert document["wall_s"] == 4.217
    assert document["simulated_pump_days_per_s"] == 426.8
    assert document["samples"][0]["capacity_ml"] == 20.0
    assert document["incidents"][1] == {
        "serial": "CF40-0102", "kind": "dry", "at_day": 63.25, "cause": "fault",
        "detail": "leak from day 55 doubled the flow",
    }  # fmt: skip
    assert document["faults"][2]["detected_day"] is None


def test_every_key_is_documented_in_the_module() -> None:
    document = score_to_json(clinic_score())
    nested = {key for part in ("facts",) for key in document[part]}
    for listed in ("incidents", "faults", "capacity_per_day", "samples"):
        nested |= set(document[listed][0])
    doc = report_json.__doc__ or ""
    for key in set(document) | nested:
        assert f'"{key}"' in doc, key


def test_the_document_names_its_format_and_version() -> None:
    document = score_to_json(clinic_score())
    assert document["format"] == "pump-service/clinic-score"
    assert document["version"] == 1


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_figure_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        score_to_json(replace(clinic_score(), simulated_pump_days_per_s=value))


def test_another_format_or_version_is_refused() -> None:
    document = score_to_json(clinic_score())
    with pytest.raises(ValueError, match="version 1"):
        score_from_json({**document, "version": 2})
    with pytest.raises(ValueError, match="clinic-score"):
        score_from_json({**document, "format": "something-else"})


def test_a_missing_or_mistyped_key_is_named() -> None:
    document = score_to_json(clinic_score())
    del document["dry_pumps"]
    with pytest.raises(ValueError, match="dry_pumps: missing"):
        score_from_json(document)
    document = score_to_json(clinic_score())
    document["samples"][1]["volume_ml"][3] = "12 mL"
    with pytest.raises(ValueError, match=r"samples\[1\]\.volume_ml\[3\]"):
        score_from_json(document)
    document = score_to_json(clinic_score())
    document["visits"] = True
    with pytest.raises(ValueError, match="visits: expected an integer"):
        score_from_json(document)
