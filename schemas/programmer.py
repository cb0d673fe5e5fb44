"""What the handheld programmer's driver returns (HPP/1 results in canonical units, aware UTC).

The wire shapes are in docs/protocol.md; ``drivers.messages`` converts them into these models.
:class:`PendingWrite` is the record of a state-changing request whose outcome is unknown: the
service may persist it and hand it back to a new client, so a reconnect never lifts the block
on that pump without a reconciliation.
"""

from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from schemas.clock import UtcDatetime
from schemas.device_log import DeviceLogEntry
from schemas.prescription import Prescription
from schemas.pump import PumpFamily

__all__ = [
    "REQUEST_ID_PATTERN",
    "BolusKind",
    "BolusStarted",
    "ClockSetResult",
    "LinkedPump",
    "LogRead",
    "PendingWrite",
    "ProgrammerEvent",
    "ProgrammerInfo",
    "Reconciliation",
    "RefillConfirmation",
    "WrittenPrescription",
]

REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
"""A request_id: 1-64 characters of A-Za-z0-9-_, unique per intended action (HPP/1 §4)."""


class BolusKind(StrEnum):
    BRIDGE = "bridge"  # after a drug or concentration change, pushes the old drug out of the catheter
    PRIMING = "priming"  # fills the empty catheter / pump segment after implant


class ProgrammerInfo(BaseModel):
    """``HELLO``: who the programmer is and which protocol it speaks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    serial: str
    firmware: str
    protocol_version: int
    max_payload_bytes: int = Field(gt=0)


class LinkedPump(BaseModel):
    """``LINK``: the pump the programmer now talks to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    serial: str = Field(min_length=1, max_length=64)
    model_id: str
    family: PumpFamily
    capacity_ml: float = Field(gt=0)


class RefillConfirmation(BaseModel):
    """``REFILL``: what the pump now believes it holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    reservoir_ml: float = Field(ge=0)
    low_reservoir_at: UtcDatetime | None = Field(None, description="when the low-reservoir alarm will sound")


class WrittenPrescription(BaseModel):
    """``RX_WRITE``: the prescription the pump now runs, with the rx_id it assigned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    rx_id: str = Field(min_length=1, max_length=64)
    prescription: Prescription


class BolusStarted(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    kind: BolusKind
    volume_ml: float = Field(gt=0)
    duration_s: float = Field(gt=0)
    started_at: UtcDatetime


class ClockSetResult(BaseModel):
    """``CLOCK_SET``: the pump clock before and after; their difference is the drift corrected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    previous_at: UtcDatetime
    time_at: UtcDatetime


class LogRead(BaseModel):
    """Entries read with ``LOG_READ`` and where to continue.

    ``skipped_entries`` counts entries that left the pump's 8192-entry window before they were
    read (the first entry returned is later than the index asked for). ``more`` is true when
    the reader stopped before the end of the log (a limit), so the caller continues at
    ``next_index`` later.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: tuple[DeviceLogEntry, ...] = ()
    next_index: int = Field(ge=0)
    skipped_entries: int = Field(0, ge=0)
    more: bool = False


class PendingWrite(BaseModel):
    """A state-changing request sent to a pump without a verified answer.

    ``log_from_index`` is the pump's log ``next`` read just before the request was sent: the
    entry the action would write (carrying ``request_id`` in its data) can only be at or after it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: str
    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    pump_serial: str = Field(min_length=1, max_length=64)
    log_from_index: int = Field(ge=0)
    sent_at: UtcDatetime
    reason: str = Field(description="why the outcome is unknown, for people")


class Reconciliation(BaseModel):
    """The verdict on a :class:`PendingWrite`: whether the pump log shows the action."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pending: PendingWrite
    landed: bool
    entry: DeviceLogEntry | None = None


class ProgrammerEvent(BaseModel):
    """An unsolicited EVENT (``ALARM``, ``LINK_LOST``, ``LINK_RESTORED``, ``BATTERY``, or newer kinds).

    Codes and states are kept as sent so an event of a newer firmware is delivered, not dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    alarm_code: str | None = None
    occurred_at: UtcDatetime | None = None
    battery_state: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="the whole event payload")
