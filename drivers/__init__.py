"""Host side of the handheld-programmer link (HPP/1): transports, frame codec, session, client.

Knows nothing of the database, HTTP or scheduling; imports only ``schemas``, pyserial and the
standard library (never ``simulators``: ``sim://`` is resolved lazily by the registry). The
protocol and the driver's design are described in docs/protocol.md.

Modules, bottom up: ``errors``, ``framing`` (codec), ``transport`` (byte pipes), ``registry``
(URL -> transport), ``messages`` / ``commands`` (payloads), ``session`` (exchanges), ``client``
(the public API), ``logio`` (frame traces).
"""

from drivers.client import ProgrammerClient
from drivers.errors import (
    ConflictError,
    CrcError,
    DeviceTimeoutError,
    DriverError,
    ErrorCode,
    FrameError,
    NakError,
    NoTelemetryError,
    NotLinkedError,
    OutcomeUnknownError,
    OutOfRangeError,
    PortBusyError,
    ProgrammerError,
    ProtocolError,
    ReconciliationError,
    ReconciliationRequiredError,
    TransportError,
)
from drivers.framing import Discard, DiscardReason, Frame, FrameDecoder, FrameType, crc16, decode_frame, encode_frame
from drivers.logio import FrameTraceWriter
from drivers.registry import open_transport
from drivers.session import FrameListener, LinkCounters, Session, TraceRecord
from drivers.transport import SerialTransport, Transport

__all__ = [
    "ConflictError",
    "CrcError",
    "DeviceTimeoutError",
    "Discard",
    "DiscardReason",
    "DriverError",
    "ErrorCode",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "FrameListener",
    "FrameTraceWriter",
    "FrameType",
    "LinkCounters",
    "NakError",
    "NoTelemetryError",
    "NotLinkedError",
    "OutOfRangeError",
    "OutcomeUnknownError",
    "PortBusyError",
    "ProgrammerClient",
    "ProgrammerError",
    "ProtocolError",
    "ReconciliationError",
    "ReconciliationRequiredError",
    "SerialTransport",
    "Session",
    "TraceRecord",
    "Transport",
    "TransportError",
    "crc16",
    "decode_frame",
    "encode_frame",
    "open_transport",
]
