"""The clinic score as JSON: stable keys, so runs can be compared over time and read back.

The document is an object::

    {"format": "pump-service/clinic-score", "version": 1,
     "facts": {"seed", "days", "programmable", "constant_flow", "database", "scenario"},
     "patient_years", "visits", "visits_per_patient_year", "alarms_before_refill", "dry_pumps",
     "incidents": [{"serial", "kind", "at_day", "cause", "detail"}],
     "faults": [{"serial", "kind", "injected_day", "detected_day", "finding_codes": [str], "explanation"}],
     "detection_rate", "mean_days_to_detection", "false_alarms",
     "false_alarm_causes": [{"cause", "count"}], "faults_not_measurable", "hard_stops",
     "safe_interval_fractions": [float], "mean_safe_interval_fraction",
     "capacity_violations", "capacity_per_day": [{"day", "booked", "capacity"}],
     "no_shows", "no_show_escalations", "charge_sets", "visits_without_charges",
     "visits_with_duplicate_charges", "wall_s", "simulated_pump_days_per_s",
     "samples": [{"serial", "family", "capacity_ml", "alarm_ml", "times_days": [float],
                  "volume_ml": [float], "bookings_days": [float], "refills_days": [float]}]}

Every key is the field name in ``testbench/score.py`` and means what its comment there says;
``kind`` and ``cause`` are the enums' values; an absent figure (nothing injected, no refill) is
``null``. Floats are rounded to what the figure can mean: volumes to 1 µL (3 decimals), days to
4 decimals (under 9 s), fractions and rates to 4 decimals, wall time to 1 ms, pump-days/s to 0.1.
Reading back what :func:`score_to_json` wrote gives the same score, rounded; writing that again
gives the same document. A non-finite float is refused (JSON has no spelling for it).
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

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

__all__ = ["FORMAT", "VERSION", "score_from_json", "score_to_json"]

FORMAT = "pump-service/clinic-score"
VERSION = 1

_ML, _DAYS, _RATIO, _WALL, _PER_S = 3, 4, 4, 3, 1  # decimals kept
_T = TypeVar("_T")


def _round(value: float, decimals: int) -> float:
    if not math.isfinite(value):
        raise ValueError(f"a clinic score cannot hold the non-finite figure {value!r}")
    return round(float(value), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0: one spelling per value


def _maybe(value: float | None, decimals: int) -> float | None:
    return None if value is None else _round(value, decimals)


def _floats(values: Sequence[float], decimals: int) -> list[float]:
    return [_round(value, decimals) for value in values]


def _facts_to_json(facts: RunFacts) -> dict[str, Any]:
    return {
        "seed": facts.seed,
        "days": facts.days,
        "programmable": facts.programmable,
        "constant_flow": facts.constant_flow,
        "database": facts.database,
        "scenario": facts.scenario,
    }


def _incident_to_json(incident: Incident) -> dict[str, Any]:
    return {
        "serial": incident.serial,
        "kind": incident.kind.value,
        "at_day": _round(incident.at_day, _DAYS),
        "cause": incident.cause.value,
        "detail": incident.detail,
    }


def _fault_to_json(fault: FaultOutcome) -> dict[str, Any]:
    return {
        "serial": fault.serial,
        "kind": fault.kind,
        "injected_day": _round(fault.injected_day, _DAYS),
        "detected_day": _maybe(fault.detected_day, _DAYS),
        "finding_codes": list(fault.finding_codes),
        "explanation": fault.explanation,
    }


def _trace_to_json(trace: PumpTrace) -> dict[str, Any]:
    return {
        "serial": trace.serial,
        "family": trace.family,
        "capacity_ml": _round(trace.capacity_ml, _ML),
        "alarm_ml": _round(trace.alarm_ml, _ML),
        "times_days": _floats(trace.times_days, _DAYS),
        "volume_ml": _floats(trace.volume_ml, _ML),
        "bookings_days": _floats(trace.bookings_days, _DAYS),
        "refills_days": _floats(trace.refills_days, _DAYS),
    }


def score_to_json(score: ClinicScore) -> dict[str, Any]:
    """The score as a JSON-ready dict with the documented keys (see the module's docstring).

    Raises:
        ValueError: a float figure is infinite or NaN.
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "facts": _facts_to_json(score.facts),
        "patient_years": _round(score.patient_years, _RATIO),
        "visits": score.visits,
        "visits_per_patient_year": _round(score.visits_per_patient_year, _RATIO),
        "alarms_before_refill": score.alarms_before_refill,
        "dry_pumps": score.dry_pumps,
        "incidents": [_incident_to_json(incident) for incident in score.incidents],
        "faults": [_fault_to_json(fault) for fault in score.faults],
        "detection_rate": _maybe(score.detection_rate, _RATIO),
        "mean_days_to_detection": _maybe(score.mean_days_to_detection, _DAYS),
        "false_alarms": score.false_alarms,
        "false_alarm_causes": [{"cause": cause, "count": count} for cause, count in score.false_alarm_causes],
        "faults_not_measurable": score.faults_not_measurable,
        "hard_stops": score.hard_stops,
        "safe_interval_fractions": _floats(score.safe_interval_fractions, _RATIO),
        "mean_safe_interval_fraction": _maybe(score.mean_safe_interval_fraction, _RATIO),
        "capacity_violations": score.capacity_violations,
        "capacity_per_day": [
            {"day": d.day, "booked": d.booked, "capacity": d.capacity} for d in score.capacity_per_day
        ],
        "no_shows": score.no_shows,
        "no_show_escalations": score.no_show_escalations,
        "charge_sets": score.charge_sets,
        "visits_without_charges": score.visits_without_charges,
        "visits_with_duplicate_charges": score.visits_with_duplicate_charges,
        "wall_s": _round(score.wall_s, _WALL),
        "simulated_pump_days_per_s": _round(score.simulated_pump_days_per_s, _PER_S),
        "samples": [_trace_to_json(trace) for trace in score.samples],
    }


class _Reader:
    """Typed access to one JSON object; errors name the key path, so a bad file says where it is bad."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{path or 'the document'}: expected an object, got {type(data).__name__}")
        self.data, self.path = data, path

    def _get(self, key: str) -> object:
        if key not in self.data:
            raise ValueError(f"{self.path}{key}: missing")
        return self.data[key]

    def _fail(self, key: str, expected: str) -> ValueError:
        return ValueError(f"{self.path}{key}: expected {expected}, got {self.data[key]!r}")

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer")
        return value

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def number(self, key: str) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self._fail(key, "a finite number")
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return None if self._get(key) is None else self.number(key)

    def optional_text(self, key: str) -> str | None:
        return None if self._get(key) is None else self.text(key)

    def items(self, key: str) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def numbers(self, key: str) -> tuple[float, ...]:
        items = self.items(key)
        floats = [item for item in items if type(item) is float and math.isfinite(item)]
        if len(floats) == len(items):  # the common case, read without an object per item
            return tuple(floats)
        return tuple(_Reader({"item": item}, f"{self.path}{key}[{i}].").number("item") for i, item in enumerate(items))

    def texts(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        return tuple(_Reader({"item": item}, f"{self.path}{key}[{i}].").text("item") for i, item in enumerate(items))

    def objects(self, key: str, read: Callable[["_Reader"], _T]) -> tuple[_T, ...]:
        return tuple(read(_Reader(item, f"{self.path}{key}[{i}].")) for i, item in enumerate(self.items(key)))

    def child(self, key: str) -> "_Reader":
        return _Reader(self._get(key), f"{self.path}{key}.")


def _read_facts(r: _Reader) -> RunFacts:
    return RunFacts(
        seed=r.integer("seed"),
        days=r.integer("days"),
        programmable=r.integer("programmable"),
        constant_flow=r.integer("constant_flow"),
        database=r.text("database"),
        scenario=r.optional_text("scenario"),
    )


def _read_incident(r: _Reader) -> Incident:
    return Incident(
        serial=r.text("serial"),
        kind=IncidentKind(r.text("kind")),
        at_day=r.number("at_day"),
        cause=IncidentCause(r.text("cause")),
        detail=r.text("detail"),
    )


def _read_fault(r: _Reader) -> FaultOutcome:
    return FaultOutcome(
        serial=r.text("serial"),
        kind=r.text("kind"),
        injected_day=r.number("injected_day"),
        detected_day=r.optional_number("detected_day"),
        finding_codes=r.texts("finding_codes"),
        explanation=r.text("explanation"),
    )


def _read_day(r: _Reader) -> DayLoad:
    return DayLoad(day=r.integer("day"), booked=r.integer("booked"), capacity=r.integer("capacity"))


def _read_trace(r: _Reader) -> PumpTrace:
    return PumpTrace(
        serial=r.text("serial"),
        family=r.text("family"),
        capacity_ml=r.number("capacity_ml"),
        alarm_ml=r.number("alarm_ml"),
        times_days=r.numbers("times_days"),
        volume_ml=r.numbers("volume_ml"),
        bookings_days=r.numbers("bookings_days"),
        refills_days=r.numbers("refills_days"),
    )


def score_from_json(data: Mapping[str, Any]) -> ClinicScore:
    """The score a :func:`score_to_json` document holds (e.g. ``json.load`` of a saved report).

    Raises:
        ValueError: not a clinic-score document of this version, or a key is missing or of the wrong type
            (the message names the key).
    """
    r = _Reader(data, "")
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(
            f"not a {FORMAT} document of version {VERSION}: {data.get('format')!r} {data.get('version')!r}"
        )
    return ClinicScore(
        facts=_read_facts(r.child("facts")),
        patient_years=r.number("patient_years"),
        visits=r.integer("visits"),
        visits_per_patient_year=r.number("visits_per_patient_year"),
        alarms_before_refill=r.integer("alarms_before_refill"),
        dry_pumps=r.integer("dry_pumps"),
        incidents=r.objects("incidents", _read_incident),
        faults=r.objects("faults", _read_fault),
        detection_rate=r.optional_number("detection_rate"),
        mean_days_to_detection=r.optional_number("mean_days_to_detection"),
        false_alarms=r.integer("false_alarms"),
        hard_stops=r.integer("hard_stops"),
        safe_interval_fractions=r.numbers("safe_interval_fractions"),
        mean_safe_interval_fraction=r.optional_number("mean_safe_interval_fraction"),
        capacity_violations=r.integer("capacity_violations"),
        capacity_per_day=r.objects("capacity_per_day", _read_day),
        no_shows=r.integer("no_shows"),
        no_show_escalations=r.integer("no_show_escalations"),
        charge_sets=r.integer("charge_sets"),
        visits_without_charges=r.integer("visits_without_charges"),
        visits_with_duplicate_charges=r.integer("visits_with_duplicate_charges"),
        wall_s=r.number("wall_s"),
        simulated_pump_days_per_s=r.number("simulated_pump_days_per_s"),
        samples=r.objects("samples", _read_trace),
        false_alarm_causes=r.objects("false_alarm_causes", lambda c: (c.text("cause"), c.integer("count"))),
        faults_not_measurable=r.integer("faults_not_measurable"),
    )
