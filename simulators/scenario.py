"""Scripted patient scenarios: a small JSON format, read with units checked, run in virtual time.

A scenario names a start, a duration, the patient's baseline and episodes (fever, flight,
mountain stay...), one pump, its faults and its refills. Every quantity carries its unit
(``"39 degC"``, ``"8000 ft"``, ``"3 d"``) and is checked with the project's unit registry; every
offset is a duration from ``start``. The format is documented in docs/simulators.md; examples
live in ``simulators/scenarios/``. A bad file gives a :class:`ScenarioError` naming the path of
the offending value.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from schemas.clock import as_utc
from schemas.flow_law import SEA_LEVEL_MMHG, ambient_pressure_mmhg
from schemas.prescription import ContinuousPrescription, RateStep, StepsPrescription, StoppedPrescription
from schemas.pump import PumpFamily, PumpModel
from schemas.pump_catalogue import get_pump_model
from schemas.units import UnitError, to_canonical
from simulators.conditions import Episode, PatientState, PatientTimeline
from simulators.pump_faults import Leak, MotorStall, Occlusion, PocketFill, PumpFault, RestrictorPrecipitate

__all__ = ["SCENARIO_DIR", "Refill", "Scenario", "ScenarioError", "load_scenario", "parse_scenario"]

SCENARIO_DIR = Path(__file__).with_name("scenarios")
T = TypeVar("T")


class ScenarioError(ValueError):
    """A scenario file that cannot be read; the message starts with the path of the bad value."""


@dataclass(frozen=True, slots=True)
class Refill:
    at: datetime
    fill_ml: float
    relative_viscosity: float = 1.0
    resolution_ml: float = 0.1
    completeness: float = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    start: datetime
    duration: timedelta
    sample_every: timedelta
    timeline: PatientTimeline
    model: PumpModel
    serial: str
    seed: int
    unit_factor: float | None
    fill_ml: float
    prescription: ContinuousPrescription | StepsPrescription | StoppedPrescription | None
    clock_drift_ppm: float
    faults: tuple[PumpFault, ...]
    refills: tuple[Refill, ...]


class _Reader:
    """Walks the JSON with a path, so every error says where it is."""

    def __init__(self, data: Any, path: str) -> None:
        self.data = data
        self.path = path

    def fail(self, message: str, key: str | None = None) -> ScenarioError:
        where = f"{self.path}.{key}" if key else self.path
        return ScenarioError(f"{where}: {message}")

    def obj(self, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(self.data, dict):
            raise self.fail("expected an object")
        unknown = set(self.data) - allowed
        if unknown:
            raise self.fail(f"unknown field(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(allowed))})")
        return self.data

    def child(self, key: str) -> "_Reader":
        return _Reader(self.data.get(key), f"{self.path}.{key}")

    def get(self, key: str, convert: Callable[[Any], T], default: T | None = None) -> T:
        if key not in self.data:
            if default is None:
                raise self.fail("is required", key)
            return default
        try:
            return convert(self.data[key])
        except (UnitError, ValueError, TypeError, LookupError) as exc:
            raise self.fail(str(exc), key) from exc

    def quantity(self, key: str, kind: str, default: float | None = None) -> float:
        def convert(raw: Any) -> float:
            if not isinstance(raw, str):
                raise ValueError("expected a quantity string with a unit, e.g. '3 d'")
            return to_canonical(raw, kind)

        return self.get(key, convert, default)

    def offset(self, key: str, start: datetime, default: float | None = None) -> datetime:
        return start + timedelta(days=self.quantity(key, "duration", default))

    def number(self, key: str, default: float | None = None) -> float:
        def convert(raw: Any) -> float:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError("expected a number")
            return float(raw)

        return self.get(key, convert, default)


def _pressure(reader: _Reader, required: bool) -> float | None:
    data = reader.data
    if "altitude" in data and "ambient_pressure" in data:
        raise reader.fail("give altitude or ambient_pressure, not both")
    if "altitude" in data:
        return ambient_pressure_mmhg(reader.quantity("altitude", "altitude"))
    if "ambient_pressure" in data:
        return reader.quantity("ambient_pressure", "pressure")
    return SEA_LEVEL_MMHG if required else None


def _episode(reader: _Reader, start: datetime) -> Episode:
    reader.obj({"kind", "at", "for", "body_temperature", "altitude", "ambient_pressure"})
    begin = reader.offset("at", start)
    end = begin + timedelta(days=reader.quantity("for", "duration"))
    temperature = reader.quantity("body_temperature", "temperature") if "body_temperature" in reader.data else None
    try:
        return Episode(
            reader.get("kind", str),
            begin,
            end,
            body_temperature_c=temperature,
            ambient_pressure_mmhg=_pressure(reader, required=False),
        )
    except ValueError as exc:
        raise reader.fail(str(exc)) from exc


def _fault(reader: _Reader, start: datetime) -> PumpFault:
    data = reader.obj({"kind", "at", "for", "remaining_flow", "daily_flow_loss", "rate", "fraction"})
    at = reader.offset("at", start)
    kind = data.get("kind")
    try:
        if kind == "occlusion":
            end = at + timedelta(days=reader.quantity("for", "duration")) if "for" in data else None
            return Occlusion(at, remaining_flow=reader.number("remaining_flow", 0.0), end_at=end)
        if kind == "precipitate":
            return RestrictorPrecipitate(at, daily_flow_loss=reader.number("daily_flow_loss", 0.05))
        if kind == "leak":
            return Leak(at, rate_ml_per_day=reader.quantity("rate", "rate"))
        if kind == "pocket_fill":
            return PocketFill(at, fraction=reader.number("fraction", 0.3))
        if kind == "motor_stall":
            return MotorStall(at)
    except ValueError as exc:
        raise reader.fail(str(exc)) from exc
    raise reader.fail(f"unknown fault kind {kind!r} (occlusion, precipitate, leak, pocket_fill, motor_stall)")


def _prescription(reader: _Reader) -> ContinuousPrescription | StepsPrescription | StoppedPrescription:
    data = reader.obj({"mode", "rate", "steps"})
    mode = data.get("mode")
    try:
        if mode == "continuous":
            return ContinuousPrescription(rate_ml_per_day=reader.quantity("rate", "rate"))
        if mode == "stopped":
            return StoppedPrescription()
        if mode == "steps":
            steps = []
            for i, raw in enumerate(data.get("steps") or []):
                step = _Reader(raw, f"{reader.path}.steps[{i}]")
                step.obj({"start", "rate"})
                start = step.get("start", time.fromisoformat)
                steps.append(RateStep(start=start, rate_ml_per_day=step.quantity("rate", "rate")))
            return StepsPrescription(steps=tuple(steps))
    except ValueError as exc:
        raise reader.fail(str(exc)) from exc
    raise reader.fail(f"unknown prescription mode {mode!r} (continuous, steps, stopped)")


def _refill(reader: _Reader, start: datetime) -> Refill:
    reader.obj({"at", "fill", "viscosity", "resolution", "completeness"})
    return Refill(
        at=reader.offset("at", start),
        fill_ml=reader.quantity("fill", "volume"),
        relative_viscosity=reader.number("viscosity", 1.0),
        resolution_ml=reader.quantity("resolution", "volume", 0.1),
        completeness=reader.number("completeness", 1.0),
    )


def _items(reader: _Reader, key: str) -> list[_Reader]:
    raw = reader.data.get(key, [])
    if not isinstance(raw, list):
        raise reader.fail("expected a list", key)
    return [_Reader(item, f"{reader.path}.{key}[{i}]") for i, item in enumerate(raw)]


def parse_scenario(data: Any, *, source: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from decoded JSON.

    Raises:
        ScenarioError: a missing or unknown field, a wrong unit, an impossible value.
    """
    top = _Reader(data, source)
    fields = top.obj(
        {"name", "description", "start", "duration", "sample_every", "patient", "episodes", "pump", "faults", "refills"}
    )
    start = top.get("start", lambda s: as_utc(datetime.fromisoformat(s), field="start"))
    patient = top.child("patient") if "patient" in fields else _Reader({}, f"{source}.patient")
    patient.obj({"body_temperature", "altitude", "ambient_pressure"})
    baseline = PatientState(patient.quantity("body_temperature", "temperature", 37.0), _pressure(patient, True) or 0.0)
    episodes = tuple(
        _episode(_Reader(e, f"{source}.episodes[{i}]"), start) for i, e in enumerate(fields.get("episodes", []))
    )
    pump = top.child("pump")
    pump_fields = pump.obj({"model", "serial", "seed", "unit_factor", "fill", "prescription", "clock_drift_ppm"})
    model = pump.get("model", get_pump_model)
    prescription = _prescription(pump.child("prescription")) if "prescription" in pump_fields else None
    if (prescription is not None) != (model.family is PumpFamily.PROGRAMMABLE):
        raise pump.fail("a programmable pump needs a prescription; a constant-flow pump takes none")
    fill = pump.quantity("fill", "volume", model.capacity_ml)
    if not 0 <= fill <= model.capacity_ml:
        raise pump.fail(f"fill must be within 0..{model.capacity_ml:g} mL", "fill")
    return Scenario(
        name=top.get("name", str),
        description=top.get("description", str, ""),
        start=start,
        duration=timedelta(days=top.quantity("duration", "duration")),
        sample_every=timedelta(days=top.quantity("sample_every", "duration", 1.0)),
        timeline=PatientTimeline(baseline, episodes),
        model=model,
        serial=pump.get("serial", str, "SIM-1"),
        seed=int(pump.number("seed", 0)),
        unit_factor=pump.number("unit_factor") if "unit_factor" in pump_fields else None,
        fill_ml=fill,
        prescription=prescription,
        clock_drift_ppm=pump.number("clock_drift_ppm", 0.0),
        faults=tuple(
            _fault(_Reader(f, f"{source}.faults[{i}]"), start) for i, f in enumerate(fields.get("faults", []))
        ),
        refills=tuple(
            _refill(_Reader(r, f"{source}.refills[{i}]"), start) for i, r in enumerate(fields.get("refills", []))
        ),
    )


def load_scenario(path: "Path | str") -> Scenario:
    """Read a scenario file (a bare name means one of ``simulators/scenarios/``).

    Raises:
        ScenarioError: unreadable JSON or a bad value (see :func:`parse_scenario`).
    """
    file = Path(path)
    if not file.exists() and not file.suffix:
        file = SCENARIO_DIR / f"{path}.json"
    try:
        data = json.loads(file.read_text())
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{file}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    return parse_scenario(data, source=file.name)
