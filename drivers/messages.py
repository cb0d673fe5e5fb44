"""HPP/1 payloads: the JSON envelope, typed value readers and the shared shapes (spec §4).

Payloads are JSON objects in the frame's PAYLOAD::

    request    {"cmd": "NAME", "args": {...}}
    response   {"ok": true, "result": {...}}
             | {"ok": false, "error": {"code": "CODE", "message": "text"}}
    event      {"event": "NAME", ...}

Requests are written compactly (no spaces) in UTF-8; the bytes of one request are built once
and resent unchanged, because the programmer recognises a retransmission by comparing bytes.

Quantities travel as strings with a unit (``"11.84 mL"``, ``"0.25 mL/d"``) and are converted
to and from canonical floats only through :mod:`schemas.units`; no pint object leaves this
module. Parsers take the keys they need and ignore the others (newer firmware may add some); a
missing key, a wrong type or a quantity of the wrong dimension in a reply is a
:class:`~drivers.errors.ProtocolError` naming the command and the field.

This module holds what several commands share (envelope, prescriptions, drugs, ``STATUS``, log
entries, events); :mod:`drivers.commands` has one builder and one result parser per command.
See docs/protocol.md for the wire shapes.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Any, Final

from drivers.errors import ProtocolError, programmer_error
from schemas.clock import as_utc
from schemas.device_log import DeviceLogEntry, LogEntryType
from schemas.prescription import (
    ContinuousPrescription,
    Prescription,
    RateStep,
    StepsPrescription,
    StoppedPrescription,
)
from schemas.programmer import ProgrammerEvent
from schemas.pump import PumpFamily
from schemas.status import ActiveAlarm, AlarmCode, Battery, BatteryState, DrugInPump, LogCursor, PumpStatus
from schemas.units import UnitError, format_quantity, to_canonical

__all__ = [
    "LOG_ENTRY_OF",
    "LOG_READ_MAX_ENTRIES",
    "STATE_CHANGING",
    "Command",
    "FieldReader",
    "Request",
    "Response",
    "drug_to_wire",
    "format_time",
    "parse_drug",
    "parse_event",
    "parse_log_entry",
    "parse_prescription",
    "parse_response",
    "parse_status",
    "prescription_to_wire",
]

LOG_READ_MAX_ENTRIES: Final = 64
_HH_MM: Final = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Command(StrEnum):
    HELLO = "HELLO"
    LINK = "LINK"
    UNLINK = "UNLINK"
    STATUS = "STATUS"
    LOG_READ = "LOG_READ"
    REFILL = "REFILL"
    RX_WRITE = "RX_WRITE"
    BOLUS = "BOLUS"
    CLOCK_SET = "CLOCK_SET"
    ALARM_ACK = "ALARM_ACK"


STATE_CHANGING: Final = frozenset({Command.REFILL, Command.RX_WRITE, Command.BOLUS, Command.CLOCK_SET})
"""Commands that change the pump; they carry a request_id and are reconciled when unanswered."""

LOG_ENTRY_OF: Final[dict[Command, LogEntryType]] = {
    Command.REFILL: LogEntryType.REFILLED,
    Command.RX_WRITE: LogEntryType.RX_CHANGED,
    Command.BOLUS: LogEntryType.BOLUS,
    Command.CLOCK_SET: LogEntryType.CLOCK_SET,
}
"""The log entry each state-changing command writes, with its request_id in ``data``."""


@dataclass(frozen=True, slots=True, eq=False)
class Request:
    """A request to send: ``command`` plus ``args``; :meth:`encode` gives the payload bytes."""

    command: Command
    args: dict[str, Any]

    @property
    def request_id(self) -> str | None:
        value = self.args.get("request_id")
        return value if isinstance(value, str) else None

    def encode(self) -> bytes:
        """The payload bytes: compact UTF-8 JSON (spec §4)."""
        return json.dumps(
            {"cmd": str(self.command), "args": self.args}, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Response:
    """A parsed response envelope; :meth:`result_or_raise` maps an error to its exception."""

    ok: bool
    result: dict[str, Any]
    error_code: str | None = None
    error_message: str = ""

    def result_or_raise(self, *, command: str | None = None, seq: int | None = None) -> dict[str, Any]:
        """The result object of a success.

        Raises:
            ProgrammerError: the subclass for the error code (never treated as success).
        """
        if not self.ok:
            raise programmer_error(self.error_code or "", self.error_message, command=command, seq=seq)
        return self.result


class FieldReader:
    """Reads typed values out of a reply object, naming ``command`` and the key path in errors."""

    def __init__(self, obj: dict[str, Any], *, command: str | None, path: str = "") -> None:
        self.obj = obj
        self.command = command
        self.path = path

    def error(self, key: str, problem: str) -> ProtocolError:
        where = f"{self.path}.{key}" if self.path else key
        return ProtocolError(f"{self.command or 'reply'}: field {where!r}: {problem}", command=self.command)

    def has(self, key: str) -> bool:
        return self.obj.get(key) is not None

    def value(self, key: str) -> Any:
        if key not in self.obj:
            raise self.error(key, "is missing")
        return self.obj[key]

    def sub(self, key: str) -> "FieldReader":
        value = self.value(key)
        if not isinstance(value, dict):
            raise self.error(key, f"expected an object, got {type(value).__name__}")
        return FieldReader(value, command=self.command, path=f"{self.path}.{key}" if self.path else key)

    def items(self, key: str) -> list["FieldReader"]:
        value = self.value(key)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.error(key, "expected a list of objects")
        prefix = f"{self.path}.{key}" if self.path else key
        return [FieldReader(item, command=self.command, path=f"{prefix}[{i}]") for i, item in enumerate(value)]

    def text(self, key: str) -> str:
        value = self.value(key)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {type(value).__name__}")
        return value

    def integer(self, key: str) -> int:
        value = self.value(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        return value

    def boolean(self, key: str) -> bool:
        value = self.value(key)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def quantity(self, key: str, kind: str) -> float:
        """A quantity string converted to the canonical float of ``kind`` (see schemas.units.KINDS)."""
        text = self.text(key)
        try:
            return to_canonical(text, kind)
        except UnitError as exc:
            raise self.error(key, str(exc)) from exc

    def moment(self, key: str) -> datetime:
        """An ISO 8601 time with an offset, as aware UTC."""
        text = self.text(key)
        try:
            return as_utc(datetime.fromisoformat(text), field=key)
        except ValueError as exc:
            raise self.error(key, f"expected an ISO 8601 time with an offset, got {text!r}") from exc


def parse_response(payload: dict[str, Any], *, command: str | None = None) -> Response:
    """Read a RESPONSE payload's envelope.

    Raises:
        ProtocolError: neither a well-formed success nor a well-formed error.
    """
    reader = FieldReader(payload, command=command)
    if reader.boolean("ok"):
        return Response(True, reader.sub("result").obj)
    error = reader.sub("error")
    message = error.obj.get("message")
    return Response(False, {}, error.text("code"), message if isinstance(message, str) else "")


def format_time(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with ``Z``.

    Raises:
        ValueError: ``moment`` is naive.
    """
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def prescription_to_wire(prescription: Prescription) -> dict[str, Any]:
    """The HPP/1 object of a prescription (without rx_id, which the pump assigns).

    Raises:
        ValueError: the prescription has a patient bolus allowance, which HPP/1 cannot carry;
            it is refused rather than silently dropped.
    """
    if isinstance(prescription, StoppedPrescription):
        return {"mode": "stopped"}
    if prescription.bolus is not None:
        raise ValueError("HPP/1 cannot express a patient bolus allowance; remove it or program it another way")
    if isinstance(prescription, ContinuousPrescription):
        return {"mode": "continuous", "rate": format_quantity(prescription.rate_ml_per_day, "rate")}
    return {
        "mode": "steps",
        "steps": [
            {"start": step.start.strftime("%H:%M"), "rate": format_quantity(step.rate_ml_per_day, "rate")}
            for step in prescription.steps
        ],
    }


def parse_prescription(reader: FieldReader) -> Prescription:
    """A prescription object (``rx_id`` optional) into the schemas type.

    Raises:
        ProtocolError: an unknown mode, a malformed step, or a prescription the schemas refuse.
    """
    mode = reader.text("mode")
    rx_id = reader.text("rx_id") if reader.has("rx_id") else None
    try:
        if mode == "continuous":
            return ContinuousPrescription(rx_id=rx_id, rate_ml_per_day=reader.quantity("rate", "rate"))
        if mode == "stopped":
            return StoppedPrescription(rx_id=rx_id)
        if mode == "steps":
            steps = []
            for step in reader.items("steps"):
                match = _HH_MM.match(step.text("start"))
                if match is None:
                    raise step.error("start", f"expected HH:MM, got {step.obj['start']!r}")
                start = time(int(match[1]), int(match[2]))
                steps.append(RateStep(start=start, rate_ml_per_day=step.quantity("rate", "rate")))
            return StepsPrescription(rx_id=rx_id, steps=tuple(steps))
    except ValueError as exc:  # pydantic's ValidationError
        raise reader.error("mode", f"not a valid {mode} prescription: {exc}") from exc
    raise reader.error("mode", f"unknown prescription mode {mode!r}")


def drug_to_wire(drug: DrugInPump) -> dict[str, Any]:
    """``{"name", "concentration"}``; a vehicle (no concentration) is sent with its name only."""
    wire: dict[str, Any] = {"name": drug.name}
    if drug.conc_mg_per_ml is not None:
        wire["concentration"] = format_quantity(drug.conc_mg_per_ml, "mass_concentration")
    elif drug.conc_usp_u_per_ml is not None:
        wire["concentration"] = format_quantity(drug.conc_usp_u_per_ml, "activity_concentration")
    return wire


def parse_drug(reader: FieldReader) -> DrugInPump:
    name = reader.text("name")
    if not reader.has("concentration"):
        return DrugInPump(name=name)
    try:
        return DrugInPump(name=name, conc_mg_per_ml=reader.quantity("concentration", "mass_concentration"))
    except ProtocolError:
        pass
    try:
        return DrugInPump(name=name, conc_usp_u_per_ml=reader.quantity("concentration", "activity_concentration"))
    except ProtocolError as exc:
        raise reader.error(
            "concentration",
            f"expected [mass]/[volume] or [drug_activity]/[volume], got {reader.obj['concentration']!r}",
        ) from exc


def parse_status(result: dict[str, Any]) -> PumpStatus:
    """The ``STATUS`` result as a :class:`~schemas.status.PumpStatus`.

    Raises:
        ProtocolError: a missing or malformed field, an unknown alarm code or battery state.
    """
    r = FieldReader(result, command=Command.STATUS)
    pump = r.sub("pump")
    battery = r.sub("battery")
    log = r.sub("log")
    try:
        alarms = tuple(
            ActiveAlarm(code=AlarmCode(a.text("code")), since_at=a.moment("since")) for a in r.items("alarms")
        )
        return PumpStatus(
            serial=pump.text("serial"),
            model_id=pump.text("model"),
            family=PumpFamily(pump.text("family")),
            clock_at=r.moment("clock"),
            reservoir_ml=r.quantity("reservoir", "volume"),
            capacity_ml=r.quantity("reservoir_capacity", "volume"),
            low_reservoir_alarm_ml=r.quantity("low_reservoir_alarm", "volume"),
            drug=parse_drug(r.sub("drug")) if r.has("drug") else None,
            prescription=parse_prescription(r.sub("prescription")) if r.has("prescription") else None,
            battery=Battery(
                state=BatteryState(battery.text("state")),
                months_to_eri=battery.integer("months_to_eri") if battery.has("months_to_eri") else None,
            ),
            alarms=alarms,
            log=LogCursor(first=log.integer("first"), next=log.integer("next")),
        )
    except ValueError as exc:  # an enum value or a model constraint
        raise ProtocolError(f"STATUS: invalid result: {exc}", command=Command.STATUS) from exc


def parse_log_entry(entry: dict[str, Any]) -> DeviceLogEntry:
    """One ``LOG_READ`` entry.

    Raises:
        ProtocolError: a missing or malformed field or an entry type this driver does not know.
    """
    r = FieldReader(entry, command=Command.LOG_READ, path="entries[]")
    data = r.sub("data").obj if r.has("data") else {}
    try:
        return DeviceLogEntry(
            index=r.integer("index"), device_time_at=r.moment("time"), type=LogEntryType(r.text("type")), data=data
        )
    except ValueError as exc:
        raise r.error("type", f"invalid log entry: {exc}") from exc


def parse_event(payload: dict[str, Any]) -> ProgrammerEvent:
    """An EVENT payload; unknown kinds, codes and states are kept as sent.

    Raises:
        ProtocolError: no ``event`` name, or a ``time`` that is not an ISO 8601 time with offset.
    """
    r = FieldReader(payload, command="EVENT")
    code = payload.get("code")
    state = payload.get("state")
    return ProgrammerEvent(
        kind=r.text("event"),
        alarm_code=code if isinstance(code, str) else None,
        occurred_at=r.moment("time") if r.has("time") else None,
        battery_state=state if isinstance(state, str) else None,
        data=payload,
    )
