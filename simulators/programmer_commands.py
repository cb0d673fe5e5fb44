"""What the simulated programmer does with each HPP/1 command: read the args, act on the pump.

Arguments are checked the way the protocol says a programmer checks them: a missing or
malformed argument is ``BAD_REQUEST``, a quantity of the wrong dimension ``UNIT_MISMATCH``, a
value outside the limits ``OUT_OF_RANGE``. Quantities are read with the project's unit registry
and written back in the protocol's spellings with the driver's own wire helpers, so both sides
of the link agree on every format by construction (and the golden vectors keep them honest).
"""

import json
import re
from datetime import datetime, time
from typing import Any

from drivers.messages import drug_to_wire, format_time, prescription_to_wire
from schemas.device_log import DeviceLogEntry
from schemas.prescription import ContinuousPrescription, RateStep, StepsPrescription, StoppedPrescription
from schemas.status import AlarmCode, DrugInPump, PumpStatus
from schemas.units import KINDS, UnitError, format_quantity, parse_quantity
from simulators.programmable import AnyPrescription, PumpCommandError, SimulatedProgrammablePump

__all__ = ["ArgReader", "log_page", "status_result"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_PAYLOAD_BYTES = 4096


class ArgReader:
    """Typed access to a request's ``args``, raising the protocol's error codes."""

    def __init__(self, args: Any) -> None:
        if not isinstance(args, dict):
            raise PumpCommandError("BAD_REQUEST", "args must be an object")
        self.args: dict[str, Any] = args

    def raw(self, key: str, *, required: bool = True) -> Any:
        if key not in self.args:
            if required:
                raise PumpCommandError("BAD_REQUEST", f"missing argument {key!r}")
            return None
        return self.args[key]

    def quantity(self, key: str, kind: str) -> float:
        text = self.raw(key)
        if not isinstance(text, str):
            raise PumpCommandError("BAD_REQUEST", f"{key} must be a quantity string such as {KINDS[kind].example!r}")
        try:
            value = parse_quantity(text)
        except UnitError as exc:
            raise PumpCommandError("BAD_REQUEST", f"{key}: {exc}") from exc
        if value.dimensionality != KINDS[kind].unit.dimensionality:
            raise PumpCommandError("UNIT_MISMATCH", f"{key} must be {KINDS[kind].label}, got {text!r}")
        return float(value.m_as(KINDS[kind].unit))

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PumpCommandError("BAD_REQUEST", f"{key} must be an integer")
        return value

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.raw(key, required=required)
        if value is not None and not isinstance(value, str):
            raise PumpCommandError("BAD_REQUEST", f"{key} must be a string")
        return value

    def moment(self, key: str) -> datetime:
        text = self.text(key)
        try:
            moment = datetime.fromisoformat(text or "")
        except ValueError as exc:
            raise PumpCommandError("BAD_REQUEST", f"{key} must be an ISO 8601 time with an offset") from exc
        if moment.utcoffset() is None:
            raise PumpCommandError("BAD_REQUEST", f"{key} must carry an offset")
        return moment

    def request_id(self) -> str | None:
        value = self.text("request_id", required=False)
        if value is not None and not _REQUEST_ID.match(value):
            raise PumpCommandError("BAD_REQUEST", "request_id is 1-64 characters of A-Za-z0-9-_")
        return value

    def drug(self, key: str) -> DrugInPump:
        reader = ArgReader(self.raw(key))
        name = reader.text("name") or ""
        if "concentration" not in reader.args:
            return DrugInPump(name=name)
        try:
            return DrugInPump(name=name, conc_mg_per_ml=reader.quantity("concentration", "mass_concentration"))
        except PumpCommandError as exc:
            if exc.code != "UNIT_MISMATCH":
                raise
        return DrugInPump(name=name, conc_usp_u_per_ml=reader.quantity("concentration", "activity_concentration"))

    def prescription(self, key: str) -> AnyPrescription:
        reader = ArgReader(self.raw(key))
        mode = reader.text("mode")
        if mode == "stopped":
            return StoppedPrescription()
        if mode == "continuous":
            rate = reader.quantity("rate", "rate")
            if rate <= 0:
                raise PumpCommandError("OUT_OF_RANGE", "a continuous rate must be positive (stop with mode 'stopped')")
            return ContinuousPrescription(rate_ml_per_day=rate)
        if mode == "steps":
            raw_steps = reader.raw("steps")
            if not isinstance(raw_steps, list) or not raw_steps:
                raise PumpCommandError("BAD_REQUEST", "steps must be a non-empty list")
            if len(raw_steps) > 24:
                raise PumpCommandError("OUT_OF_RANGE", "at most 24 steps")
            steps = []
            for raw in raw_steps:
                step = ArgReader(raw)
                match = _HH_MM.match(step.text("start") or "")
                if match is None:
                    raise PumpCommandError("BAD_REQUEST", "a step starts at HH:MM")
                rate = step.quantity("rate", "rate")
                if rate < 0:
                    raise PumpCommandError("OUT_OF_RANGE", "a step rate must not be negative")
                steps.append(RateStep(start=time(int(match[1]), int(match[2])), rate_ml_per_day=rate))
            try:
                return StepsPrescription(steps=tuple(steps))
            except ValueError as exc:
                raise PumpCommandError("BAD_REQUEST", f"not a valid step profile: {exc}") from exc
        raise PumpCommandError("BAD_REQUEST", f"unknown prescription mode {mode!r}")

    def alarm(self, key: str) -> AlarmCode:
        code = self.text(key)
        try:
            return AlarmCode(code or "")
        except ValueError as exc:
            raise PumpCommandError("BAD_REQUEST", f"unknown alarm code {code!r}") from exc


def prescription_result(rx: AnyPrescription) -> dict[str, Any]:
    return {**prescription_to_wire(rx), "rx_id": rx.rx_id}


def status_result(status: PumpStatus) -> dict[str, Any]:
    """STATUS in HPP/1's shape (quantities with units, times in UTC)."""
    result: dict[str, Any] = {
        "pump": {"serial": status.serial, "model": status.model_id, "family": status.family.value},
        "clock": format_time(status.clock_at),
        "reservoir": format_quantity(status.reservoir_ml, "volume"),
        "reservoir_capacity": format_quantity(status.capacity_ml, "volume"),
        "low_reservoir_alarm": format_quantity(status.low_reservoir_alarm_ml, "volume"),
        "battery": {"state": status.battery.state.value, "months_to_eri": status.battery.months_to_eri},
        "alarms": [{"code": a.code.value, "since": format_time(a.since_at)} for a in status.alarms],
        "log": {"first": status.log.first, "next": status.log.next},
    }
    if status.drug is not None:
        result["drug"] = drug_to_wire(status.drug)
    if status.prescription is not None:
        result["prescription"] = prescription_result(status.prescription)
    return result


def _entry(entry: DeviceLogEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "time": format_time(entry.device_time_at),
        "type": entry.type.value,
        "data": entry.data,
    }


def log_page(pump: SimulatedProgrammablePump, from_index: int, max_entries: int) -> dict[str, Any]:
    """A LOG_READ result that fits in one frame: fewer than ``max_entries`` when they would not."""
    if from_index < 0:
        raise PumpCommandError("BAD_REQUEST", "from must not be negative")
    if not 1 <= max_entries <= 64:
        raise PumpCommandError("OUT_OF_RANGE", "max must be within 1..64")
    if from_index > pump.log.next:
        raise PumpCommandError("OUT_OF_RANGE", f"from {from_index} is past the log's next index {pump.log.next}")
    entries, _, _ = pump.read_log(from_index, max_entries)
    wire = [_entry(e) for e in entries]
    budget = MAX_PAYLOAD_BYTES - 120  # the envelope and the next/more fields
    size = 0
    kept: list[dict[str, Any]] = []
    for item in wire:
        size += len(json.dumps(item, separators=(",", ":"))) + 1
        if size > budget and kept:
            break
        kept.append(item)
    start = entries[0].index if entries else max(from_index, pump.log.first)
    following = start + len(kept)
    return {"entries": kept, "next": following, "more": following < pump.log.next}
