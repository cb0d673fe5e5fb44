"""Exceptions of the programmer driver: one root, each family also a matching builtin.

```
DriverError(Exception)                       kw-only context: port, command, seq
├── TransportError(DriverError, OSError)     cannot open / lost port (wraps pyserial with `from`)
│   └── PortBusyError                        the port is exclusively locked by another process
├── FrameError(DriverError, ValueError)      bytes that are not a valid HPP/1 frame
│   └── CrcError                             carries expected / actual
├── ProtocolError(DriverError)               a valid frame with a wrong meaning (bad payload, bad unit)
│   └── NakError                             every attempt of a request was NAKed by the programmer
├── DeviceTimeoutError(DriverError, TimeoutError)   no response after the last resend
├── ProgrammerError(DriverError)             an ``{"ok": false}`` response; carries the HPP/1 ``code``
│   └── ConflictError, NotLinkedError, …     one subclass per error code of spec §4
├── OutcomeUnknownError(DriverError)         a state-changing request whose effect on the pump is unknown
├── ReconciliationRequiredError(DriverError) a state-changing request refused until reconcile() has run
└── ReconciliationError(DriverError)         reconcile() could not prove either outcome
```

Only :mod:`drivers.transport` converts pyserial exceptions; only :mod:`drivers.client` raises the
outcome / reconciliation errors. Bad arguments raise plain :class:`ValueError`.
"""

from enum import StrEnum
from typing import Final

from schemas.programmer import PendingWrite

__all__ = [
    "PROGRAMMER_ERRORS",
    "BadRequestError",
    "BusyError",
    "ConflictError",
    "CrcError",
    "DeviceTimeoutError",
    "DriverError",
    "ErrorCode",
    "FrameError",
    "LinkLostError",
    "NakError",
    "NoTelemetryError",
    "NotFoundError",
    "NotLinkedError",
    "OutOfRangeError",
    "OutcomeUnknownError",
    "PortBusyError",
    "ProgrammerError",
    "ProtocolError",
    "PumpFaultError",
    "ReconciliationError",
    "ReconciliationRequiredError",
    "TransportError",
    "UnitMismatchError",
    "UnknownCommandError",
    "programmer_error",
]


class DriverError(Exception):
    """Root of every error the driver raises on purpose.

    Args:
        message: what went wrong, for people.
        port: the transport URL, when known.
        command: the HPP/1 command being exchanged, when any.
        seq: the request SEQ, when any.
    """

    def __init__(
        self, message: str, *, port: str | None = None, command: str | None = None, seq: int | None = None
    ) -> None:
        super().__init__(message)
        self.port = port
        self.command = command
        self.seq = seq


class TransportError(DriverError, OSError):
    """The port cannot be opened, written or read (it may have vanished)."""


class PortBusyError(TransportError):
    """The port is exclusively locked by another process."""


class FrameError(DriverError, ValueError):
    """Bytes that do not form a valid HPP/1 frame."""


class CrcError(FrameError):
    """A frame whose CRC-16 does not match its contents."""

    def __init__(self, message: str, *, expected: int, actual: int, seq: int | None = None) -> None:
        super().__init__(message, seq=seq)
        self.expected = expected
        self.actual = actual


class ProtocolError(DriverError):
    """A well-formed frame whose content breaks the protocol (missing key, wrong unit, bad shape)."""


class NakError(ProtocolError):
    """Every attempt of a request was answered with a NAK: the programmer could not read our frame."""


class DeviceTimeoutError(DriverError, TimeoutError):
    """No valid response arrived after the last resend (timeouts, possibly mixed with NAKs)."""


class ErrorCode(StrEnum):
    """The error codes of HPP/1 §4."""

    BAD_REQUEST = "BAD_REQUEST"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    NOT_LINKED = "NOT_LINKED"
    NO_TELEMETRY = "NO_TELEMETRY"
    NOT_FOUND = "NOT_FOUND"
    LINK_LOST = "LINK_LOST"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    UNIT_MISMATCH = "UNIT_MISMATCH"
    CONFLICT = "CONFLICT"
    BUSY = "BUSY"
    PUMP_FAULT = "PUMP_FAULT"


class ProgrammerError(DriverError):
    """The programmer answered ``{"ok": false, "error": {"code", "message"}}``.

    ``code`` is the spec's code as sent (a plain string for codes this driver does not know yet).
    """

    def __init__(self, message: str, *, code: str, command: str | None = None, seq: int | None = None) -> None:
        super().__init__(f"{code}: {message}", command=command, seq=seq)
        self.code = code
        self.device_message = message


class BadRequestError(ProgrammerError):
    pass


class UnknownCommandError(ProgrammerError):
    pass


class NotLinkedError(ProgrammerError):
    pass


class NoTelemetryError(ProgrammerError):
    """The pump has no telemetry (a constant-flow pump): its refills are recorded by hand."""


class NotFoundError(ProgrammerError):
    pass


class LinkLostError(ProgrammerError):
    pass


class OutOfRangeError(ProgrammerError):
    pass


class UnitMismatchError(ProgrammerError):
    pass


class ConflictError(ProgrammerError):
    """``RX_WRITE`` with an ``expect`` that is not the pump's current rx_id."""


class BusyError(ProgrammerError):
    pass


class PumpFaultError(ProgrammerError):
    pass


PROGRAMMER_ERRORS: Final[dict[str, type[ProgrammerError]]] = {
    ErrorCode.BAD_REQUEST: BadRequestError,
    ErrorCode.UNKNOWN_COMMAND: UnknownCommandError,
    ErrorCode.NOT_LINKED: NotLinkedError,
    ErrorCode.NO_TELEMETRY: NoTelemetryError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.LINK_LOST: LinkLostError,
    ErrorCode.OUT_OF_RANGE: OutOfRangeError,
    ErrorCode.UNIT_MISMATCH: UnitMismatchError,
    ErrorCode.CONFLICT: ConflictError,
    ErrorCode.BUSY: BusyError,
    ErrorCode.PUMP_FAULT: PumpFaultError,
}


def programmer_error(code: str, message: str, *, command: str | None = None, seq: int | None = None) -> ProgrammerError:
    """The exception for an error response: the code's own subclass, or ProgrammerError for a new code."""
    cls = PROGRAMMER_ERRORS.get(code, ProgrammerError)
    return cls(message, code=code, command=command, seq=seq)


class OutcomeUnknownError(DriverError):
    """A state-changing request was sent but its effect on the pump cannot be told.

    Raised when no response came after the last resend, the port failed after the request went
    out, the programmer answered ``LINK_LOST`` / ``PUMP_FAULT``, or the answer could not be
    verified. The pump is blocked for state-changing commands until ``reconcile()`` has run.
    """

    def __init__(self, message: str, *, pending: PendingWrite, port: str | None = None) -> None:
        super().__init__(message, port=port, command=pending.command)
        self.pending = pending
        self.request_id = pending.request_id
        self.pump_serial = pending.pump_serial


class ReconciliationRequiredError(DriverError):
    """A state-changing request was refused: an earlier one to this pump still has an unknown outcome."""

    def __init__(self, message: str, *, pending: PendingWrite, command: str | None = None) -> None:
        super().__init__(message, command=command)
        self.pending = pending
        self.pump_serial = pending.pump_serial


class ReconciliationError(DriverError):
    """reconcile() could not prove whether the pending write landed; the block stays."""
