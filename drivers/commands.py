"""One request builder and one result parser per HPP/1 command (spec §4, docs/protocol.md).

Builders take canonical floats with the unit in the argument name and produce a
:class:`~drivers.messages.Request` whose quantities are strings with units; they refuse bad
arguments with :class:`ValueError` before anything is sent. Parsers turn a command's ``result``
object into a :mod:`schemas.programmer` model, raising :class:`~drivers.errors.ProtocolError` for
a missing key, a wrong type or a quantity of the wrong dimension. :func:`same_prescription` is
the check of an ``RX_WRITE`` echo: a pump that runs something other than what was sent is never
reported as a success.
"""

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

from drivers.errors import ProtocolError
from drivers.messages import (
    LOG_READ_MAX_ENTRIES,
    Command,
    FieldReader,
    Request,
    drug_to_wire,
    format_time,
    parse_prescription,
    prescription_to_wire,
)
from schemas.prescription import ContinuousPrescription, Prescription, StepsPrescription, StoppedPrescription
from schemas.programmer import (
    REQUEST_ID_PATTERN,
    BolusKind,
    BolusStarted,
    ClockSetResult,
    LinkedPump,
    ProgrammerInfo,
    RefillConfirmation,
    WrittenPrescription,
)
from schemas.pump import PumpFamily
from schemas.status import AlarmCode, DrugInPump
from schemas.units import format_quantity, to_canonical

__all__ = [
    "RATE_ECHO_ABS_TOL_ML_PER_DAY",
    "RATE_ECHO_REL_TOL",
    "LogPage",
    "alarm_ack_request",
    "bolus_request",
    "check_request_id",
    "clock_set_request",
    "hello_request",
    "link_request",
    "log_read_request",
    "parse_bolus",
    "parse_clock_set",
    "parse_hello",
    "parse_link",
    "parse_log_page",
    "parse_refill",
    "parse_rx_write",
    "refill_request",
    "rx_write_request",
    "same_prescription",
    "status_request",
    "unlink_request",
]

SECONDS_PER_DAY: Final = 86_400.0
# The pump may store rates at its own resolution; an echo within 0.1 % or 0.001 mL/d is the same rate.
RATE_ECHO_REL_TOL: Final = 1e-3
RATE_ECHO_ABS_TOL_ML_PER_DAY: Final = 1e-3
_REQUEST_ID: Final = re.compile(REQUEST_ID_PATTERN)
_T = TypeVar("_T")


def check_request_id(request_id: str) -> str:
    """Validate a request_id (1-64 of ``A-Za-z0-9-_``).

    Raises:
        ValueError: any other string.
    """
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(f"request_id must be 1-64 characters of A-Za-z0-9-_, got {request_id!r}")
    return request_id


def _volume(name: str, value_ml: float) -> str:
    if not math.isfinite(value_ml) or value_ml < 0:
        raise ValueError(f"{name} must be a finite volume ≥ 0 mL, got {value_ml!r}")
    return format_quantity(value_ml, "volume")


def hello_request() -> Request:
    return Request(Command.HELLO, {})


def link_request(pump_serial: str | None = None) -> Request:
    """``LINK`` to ``pump_serial``, or to the pump in range when None."""
    return Request(Command.LINK, {} if pump_serial is None else {"pump_serial": pump_serial})


def unlink_request() -> Request:
    return Request(Command.UNLINK, {})


def status_request() -> Request:
    return Request(Command.STATUS, {})


def log_read_request(*, from_index: int, max_entries: int) -> Request:
    """``LOG_READ`` of up to ``max_entries`` (1-64) entries from ``from_index``.

    Raises:
        ValueError: a negative index or a page size outside 1-64.
    """
    if from_index < 0:
        raise ValueError(f"from_index must be ≥ 0, got {from_index}")
    if not 1 <= max_entries <= LOG_READ_MAX_ENTRIES:
        raise ValueError(f"max_entries must be 1-{LOG_READ_MAX_ENTRIES}, got {max_entries}")
    return Request(Command.LOG_READ, {"from": from_index, "max": max_entries})


def refill_request(
    *, volume_removed_ml: float, volume_added_ml: float, drug: DrugInPump, reservoir_after_ml: float, request_id: str
) -> Request:
    """``REFILL``: what was aspirated, what was added, the drug, and the resulting reservoir.

    Raises:
        ValueError: a negative or non-finite volume, or a malformed request_id.
    """
    return Request(
        Command.REFILL,
        {
            "volume_removed": _volume("volume_removed_ml", volume_removed_ml),
            "volume_added": _volume("volume_added_ml", volume_added_ml),
            "drug": drug_to_wire(drug),
            "reservoir_after": _volume("reservoir_after_ml", reservoir_after_ml),
            "request_id": check_request_id(request_id),
        },
    )


def rx_write_request(prescription: Prescription, *, expect: str, request_id: str) -> Request:
    """``RX_WRITE`` replacing the prescription whose rx_id is ``expect``.

    Raises:
        ValueError: a bolus allowance (not expressible in HPP/1), an empty ``expect``, or a
            malformed request_id.
    """
    if not expect:
        raise ValueError("expect must be the rx_id of the pump's current prescription")
    return Request(
        Command.RX_WRITE,
        {
            "prescription": prescription_to_wire(prescription),
            "expect": expect,
            "request_id": check_request_id(request_id),
        },
    )


def bolus_request(*, kind: BolusKind, volume_ml: float, duration_s: float, request_id: str) -> Request:
    """``BOLUS`` of ``volume_ml`` over ``duration_s``.

    Raises:
        ValueError: a volume or duration that is not a positive finite number, or a bad request_id.
    """
    if not (math.isfinite(volume_ml) and volume_ml > 0):
        raise ValueError(f"volume_ml must be > 0, got {volume_ml!r}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    return Request(
        Command.BOLUS,
        {
            "kind": BolusKind(kind).value,
            "volume": format_quantity(volume_ml, "volume"),
            "duration": format_quantity(duration_s / SECONDS_PER_DAY, "duration", unit="s"),
            "request_id": check_request_id(request_id),
        },
    )


def clock_set_request(*, time_at: datetime, request_id: str) -> Request:
    """``CLOCK_SET`` to ``time_at`` (aware; sent as UTC).

    Raises:
        ValueError: a naive datetime or a malformed request_id.
    """
    return Request(Command.CLOCK_SET, {"time": format_time(time_at), "request_id": check_request_id(request_id)})


def alarm_ack_request(code: AlarmCode | str) -> Request:
    return Request(Command.ALARM_ACK, {"code": str(code)})


# --- result parsers ---------------------------------------------------------------------------


def _build(command: Command, build: Callable[[], _T]) -> _T:
    """Run a model constructor, turning a schemas validation error into a ProtocolError."""
    try:
        return build()
    except ValueError as exc:
        raise ProtocolError(f"{command}: invalid result: {exc}", command=command) from exc


def parse_hello(result: dict[str, Any]) -> ProgrammerInfo:
    r = FieldReader(result, command=Command.HELLO)
    programmer = r.sub("programmer")
    return _build(
        Command.HELLO,
        lambda: ProgrammerInfo(
            model=programmer.text("model"),
            serial=programmer.text("serial"),
            firmware=programmer.text("firmware"),
            protocol_version=r.integer("protocol"),
            max_payload_bytes=r.integer("max_payload"),
        ),
    )


def parse_link(result: dict[str, Any]) -> LinkedPump:
    pump = FieldReader(result, command=Command.LINK).sub("pump")
    return _build(
        Command.LINK,
        lambda: LinkedPump(
            serial=pump.text("serial"),
            model_id=pump.text("model"),
            family=PumpFamily(pump.text("family")),
            capacity_ml=pump.quantity("reservoir_capacity", "volume"),
        ),
    )


@dataclass(frozen=True, slots=True)
class LogPage:
    """One ``LOG_READ`` result; entries stay raw so a reconciliation can match any entry type."""

    entries: tuple[dict[str, Any], ...]
    next_index: int
    more: bool


def parse_log_page(result: dict[str, Any], *, from_index: int) -> LogPage:
    """A ``LOG_READ`` result, checked for consistent indices.

    Raises:
        ProtocolError: a malformed page, indices that do not increase by one from at least
            ``from_index``, a ``next`` that does not follow the last entry, or ``more`` without progress.
    """
    r = FieldReader(result, command=Command.LOG_READ)
    entries = r.items("entries")
    next_index = r.integer("next")
    more = r.boolean("more")
    indices = [e.integer("index") for e in entries]
    if indices and (indices[0] < from_index or any(b != a + 1 for a, b in itertools.pairwise(indices))):
        raise r.error("entries", f"indices {indices[0]}..{indices[-1]} do not run by one from {from_index}")
    if indices and next_index != indices[-1] + 1:
        raise r.error("next", f"{next_index} does not follow the last entry {indices[-1]}")
    if more and not indices:
        raise r.error("more", "true on an empty page: the log would never end")
    return LogPage(tuple(e.obj for e in entries), next_index, more)


def parse_refill(result: dict[str, Any], *, request_id: str) -> RefillConfirmation:
    r = FieldReader(result, command=Command.REFILL)
    return _build(
        Command.REFILL,
        lambda: RefillConfirmation(
            request_id=request_id,
            reservoir_ml=r.quantity("reservoir", "volume"),
            low_reservoir_at=r.moment("low_reservoir_date") if r.has("low_reservoir_date") else None,
        ),
    )


def parse_rx_write(result: dict[str, Any], *, request_id: str) -> WrittenPrescription:
    r = FieldReader(result, command=Command.RX_WRITE)
    rx_id = r.text("rx_id")
    prescription = parse_prescription(r.sub("prescription"))
    if prescription.rx_id not in (None, rx_id):
        raise r.error("prescription.rx_id", f"{prescription.rx_id!r} differs from rx_id {rx_id!r}")
    return _build(
        Command.RX_WRITE,
        lambda: WrittenPrescription(
            request_id=request_id, rx_id=rx_id, prescription=prescription.model_copy(update={"rx_id": rx_id})
        ),
    )


def parse_bolus(result: dict[str, Any], *, request: Request) -> BolusStarted:
    r = FieldReader(result, command=Command.BOLUS)
    args = request.args
    return _build(
        Command.BOLUS,
        lambda: BolusStarted(
            request_id=args["request_id"],
            kind=BolusKind(args["kind"]),
            volume_ml=to_canonical(args["volume"], "volume"),
            duration_s=to_canonical(args["duration"], "duration") * SECONDS_PER_DAY,
            started_at=r.moment("started"),
        ),
    )


def parse_clock_set(result: dict[str, Any], *, request_id: str) -> ClockSetResult:
    r = FieldReader(result, command=Command.CLOCK_SET)
    return _build(
        Command.CLOCK_SET,
        lambda: ClockSetResult(request_id=request_id, previous_at=r.moment("previous"), time_at=r.moment("time")),
    )


def same_prescription(sent: Prescription, echoed: Prescription) -> bool:
    """Whether the pump's echo is the prescription sent (rates within the echo tolerance)."""

    def close(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=RATE_ECHO_REL_TOL, abs_tol=RATE_ECHO_ABS_TOL_ML_PER_DAY)

    if isinstance(sent, StoppedPrescription) or isinstance(echoed, StoppedPrescription):
        return type(sent) is type(echoed)
    if isinstance(sent, ContinuousPrescription) and isinstance(echoed, ContinuousPrescription):
        return close(sent.rate_ml_per_day, echoed.rate_ml_per_day)
    if isinstance(sent, StepsPrescription) and isinstance(echoed, StepsPrescription):
        return len(sent.steps) == len(echoed.steps) and all(
            a.start == b.start and close(a.rate_ml_per_day, b.rate_ml_per_day)
            for a, b in zip(sent.steps, echoed.steps, strict=True)
        )
    return False
