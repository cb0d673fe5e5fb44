"""HPP/1 frame codec: bytes to :class:`Frame` and back. No I/O, no retries, no clock of its own.

Frame layout (protocol spec §2, docs/protocol.md; integers big-endian)::

    offset  0     1     2     3      4-5          6 .. 5+LEN           6+LEN .. 7+LEN
          +-----+-----+-----+------+-----------+----------------------+----------------+
          | SOF | VER | SEQ | TYPE |    LEN    |       PAYLOAD        |      CRC       |
          | 7E  | 01  | u8  |  u8  | u16, ≤4096| UTF-8 JSON object,   | u16 over       |
          |     |     |     |      |           | empty for NAK        | VER..PAYLOAD   |
          +-----+-----+-----+------+-----------+----------------------+----------------+

TYPE is 0x01 REQUEST, 0x02 RESPONSE, 0x03 EVENT or 0x15 NAK. The CRC is CRC-16/CCITT-FALSE
(poly 0x1021, init 0xFFFF, not reflected, xorout 0), which is ``binascii.crc_hqx(data, 0xFFFF)``;
its check value over ASCII ``123456789`` is 0x29B1.

Recovery rules of :class:`FrameDecoder`:

- It hunts for 0x7E; bytes before it are skipped and counted in ``skipped_bytes``.
- A candidate is discarded as soon as it is known bad: VER ≠ 1 (once byte 1 is in), LEN > 4096
  (once the 6-byte header is in), then, with the whole frame in, a CRC mismatch, an unknown TYPE,
  or a payload that is not a UTF-8 JSON object without BOM (a NAK's payload must be empty).
- After any discard, hunting resumes at the byte *after the discarded SOF*: HPP/1 has no byte
  stuffing, so 0x7E occurs inside payloads and CRCs, and a real frame may start inside a
  rejected candidate (e.g. behind a noise byte that happened to be 0x7E).
- Inter-byte timeout: bytes more than 0.100 s apart inside one frame end that frame. The decoder
  judges this only from the ``now_s`` stamps the caller passes to :meth:`FrameDecoder.feed`, so it
  is pure and testable. The bytes of the ended partial frame are then re-hunted like any other
  discard (each candidate still incomplete at the gap is discarded as a timeout).
- Every discard is recorded as a :class:`Discard` (reason, SEQ when the header was readable, the
  bytes) for the caller to drain and count. Garbage never raises and never yields a frame.

:func:`decode_frame` is the strict one-frame variant: it raises :class:`~drivers.errors.FrameError`
(or :class:`~drivers.errors.CrcError`) instead of recording discards.
"""

import binascii
import json
import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final

from drivers.errors import CrcError, FrameError

__all__ = [
    "CRC_LEN",
    "HEADER_LEN",
    "INTER_BYTE_TIMEOUT_S",
    "MAX_PAYLOAD_BYTES",
    "SOF",
    "VERSION",
    "Discard",
    "DiscardReason",
    "Frame",
    "FrameDecoder",
    "FrameType",
    "crc16",
    "decode_frame",
    "encode_frame",
    "parse_json_object",
]

SOF: Final = 0x7E
VERSION: Final = 0x01
HEADER_LEN: Final = 6  # SOF VER SEQ TYPE LEN(2)
CRC_LEN: Final = 2
MAX_PAYLOAD_BYTES: Final = 4096
INTER_BYTE_TIMEOUT_S: Final = 0.100
_HEADER: Final = struct.Struct(">BBBH")  # VER SEQ TYPE LEN: the CRC-covered header, without SOF


class FrameType(IntEnum):
    REQUEST = 0x01
    RESPONSE = 0x02
    EVENT = 0x03
    NAK = 0x15


_TYPES: Final[dict[int, FrameType]] = {t.value: t for t in FrameType}


class DiscardReason(StrEnum):
    BAD_VERSION = "bad_version"
    TOO_LONG = "too_long"
    CRC_MISMATCH = "crc_mismatch"
    UNKNOWN_TYPE = "unknown_type"
    BAD_PAYLOAD = "bad_payload"
    INTER_BYTE_TIMEOUT = "inter_byte_timeout"


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (check value 0x29B1 over ``b"123456789"``)."""
    return binascii.crc_hqx(data, 0xFFFF)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(payload: bytes) -> dict[str, Any]:
    """Parse a frame payload: strict UTF-8 (no BOM), strict JSON (no NaN/Infinity), an object.

    Raises:
        FrameError: anything else, including nesting too deep to parse.
    """
    try:
        obj = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise FrameError(f"payload is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise FrameError(f"payload is JSON but not an object: {type(obj).__name__}")
    return obj


def _payload_ok(frame_type: FrameType, payload: bytes) -> bool:
    if frame_type is FrameType.NAK:
        return not payload
    try:
        parse_json_object(payload)
    except FrameError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Frame:
    """One valid frame. ``payload`` holds the exact bytes, which resends compare (spec §3)."""

    seq: int
    type: FrameType
    payload: bytes = b""

    def json_object(self) -> dict[str, Any]:
        """The payload as a JSON object.

        Raises:
            FrameError: a NAK (no payload) or a payload that is not a JSON object.
        """
        return parse_json_object(self.payload)

    def to_bytes(self) -> bytes:
        return encode_frame(self.seq, self.type, self.payload)


@dataclass(frozen=True, slots=True)
class Discard:
    """A candidate frame the decoder threw away.

    ``seq`` is set when the header was readable (VER 1 and all six header bytes received);
    ``data`` holds the candidate's bytes as far as they were examined.
    """

    reason: DiscardReason
    seq: int | None
    data: bytes
    at_s: float


def encode_frame(seq: int, frame_type: FrameType, payload: bytes = b"") -> bytes:
    """Build the bytes of one frame.

    Raises:
        ValueError: SEQ outside 0-255, an unknown TYPE, a payload over 4096 bytes, or a NAK
            with a payload.
    """
    if not 0 <= seq <= 0xFF:
        raise ValueError(f"SEQ must be 0-255, got {seq}")
    kind = FrameType(frame_type)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if kind is FrameType.NAK and payload:
        raise ValueError("a NAK carries no payload")
    body = _HEADER.pack(VERSION, seq, kind, len(payload)) + payload
    return b"\x7e" + body + crc16(body).to_bytes(2, "big")


def decode_frame(data: bytes) -> Frame:
    """Decode exactly one complete frame (no hunting, no trailing bytes).

    Raises:
        FrameError: wrong SOF or VER, LEN over 4096, wrong length, unknown TYPE, bad payload.
        CrcError: the CRC does not match.
    """
    if len(data) < HEADER_LEN + CRC_LEN:
        raise FrameError(f"{len(data)} bytes are too short for a frame")
    if data[0] != SOF:
        raise FrameError(f"frame must start with 0x7E, got 0x{data[0]:02X}")
    version, seq, type_byte, length = _HEADER.unpack_from(data, 1)
    if version != VERSION:
        raise FrameError(f"unsupported VER {version}")
    if length > MAX_PAYLOAD_BYTES:
        raise FrameError(f"LEN {length} exceeds {MAX_PAYLOAD_BYTES}", seq=seq)
    if len(data) != HEADER_LEN + length + CRC_LEN:
        raise FrameError(f"LEN {length} does not match {len(data)} frame bytes", seq=seq)
    expected = crc16(data[1 : HEADER_LEN + length])
    actual = int.from_bytes(data[-CRC_LEN:], "big")
    if expected != actual:
        raise CrcError(f"CRC 0x{actual:04X} != 0x{expected:04X}", expected=expected, actual=actual, seq=seq)
    kind = _TYPES.get(type_byte)
    if kind is None:
        raise FrameError(f"unknown TYPE 0x{type_byte:02X}", seq=seq)
    payload = bytes(data[HEADER_LEN : HEADER_LEN + length])
    if not _payload_ok(kind, payload):
        raise FrameError(f"{kind.name} payload is not valid for its type", seq=seq)
    return Frame(seq, kind, payload)


class FrameDecoder:
    """Incremental decoder fed arbitrary chunks with their arrival time (see the module rules).

    Args:
        inter_byte_timeout_s: the gap inside a frame that ends it (spec: 0.100 s).
    """

    def __init__(self, *, inter_byte_timeout_s: float = INTER_BYTE_TIMEOUT_S) -> None:
        self._timeout_s = inter_byte_timeout_s
        self._buf = bytearray()
        self._last_s = 0.0
        self._discards: list[Discard] = []
        self.skipped_bytes = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes of an unfinished candidate frame held back for more input."""
        return len(self._buf)

    def feed(self, data: bytes, now_s: float) -> list[Frame]:
        """Add ``data`` that arrived at ``now_s`` (monotonic seconds); return the frames completed.

        Feeding ``b""`` only applies the inter-byte timeout to a held partial frame.
        """
        frames: list[Frame] = []
        # "More than" 100 ms, with a nanosecond of slack for float stamps (1.1 - 1.0 > 0.1 in binary).
        if self._buf and now_s - self._last_s > self._timeout_s + 1e-9:
            self._scan(frames, now_s, expire=True)
        if data:
            self._buf += data
            self._last_s = now_s
            self._scan(frames, now_s, expire=False)
        return frames

    def resume(self, now_s: float) -> None:
        """Restart the inter-byte clock: the caller was not reading since its last :meth:`feed`.

        Bytes that waited in an OS buffer while nobody read arrive together much later; that
        gap was never on the wire and must not end a frame.
        """
        self._last_s = now_s

    def drain_discards(self) -> list[Discard]:
        """Return and forget the discards recorded since the last call."""
        discards, self._discards = self._discards, []
        return discards

    def reset(self) -> None:
        """Drop any partial frame silently (e.g. after the port was reopened)."""
        self._buf.clear()

    def _discard(self, reason: DiscardReason, seq: int | None, data: bytes | bytearray, at_s: float) -> None:
        self._discards.append(Discard(reason, seq, bytes(data), at_s))

    def _scan(self, frames: list[Frame], at_s: float, *, expire: bool) -> None:
        """Extract frames from the buffer; with ``expire`` every incomplete candidate times out."""
        buf = self._buf
        end = len(buf)
        pos = 0
        while pos < end:
            start = buf.find(SOF, pos)
            if start < 0:
                self.skipped_bytes += end - pos
                pos = end
                break
            self.skipped_bytes += start - pos
            pos = start
            avail = end - pos
            if avail >= 2 and buf[pos + 1] != VERSION:
                self._discard(DiscardReason.BAD_VERSION, None, buf[pos : pos + 2], at_s)
                pos += 1
                continue
            if avail < HEADER_LEN:
                if not expire:
                    break
                self._discard(DiscardReason.INTER_BYTE_TIMEOUT, None, buf[pos:end], at_s)
                pos += 1
                continue
            seq = buf[pos + 2]
            length = (buf[pos + 4] << 8) | buf[pos + 5]
            if length > MAX_PAYLOAD_BYTES:
                self._discard(DiscardReason.TOO_LONG, seq, buf[pos : pos + HEADER_LEN], at_s)
                pos += 1
                continue
            total = HEADER_LEN + length + CRC_LEN
            if avail < total:
                if not expire:
                    break
                self._discard(DiscardReason.INTER_BYTE_TIMEOUT, seq, buf[pos:end], at_s)
                pos += 1
                continue
            crc_at = pos + HEADER_LEN + length
            if crc16(buf[pos + 1 : crc_at]) != (buf[crc_at] << 8) | buf[crc_at + 1]:
                self._discard(DiscardReason.CRC_MISMATCH, seq, buf[pos : pos + total], at_s)
                pos += 1
                continue
            kind = _TYPES.get(buf[pos + 3])
            if kind is None:
                self._discard(DiscardReason.UNKNOWN_TYPE, seq, buf[pos : pos + total], at_s)
                pos += 1
                continue
            payload = bytes(buf[pos + HEADER_LEN : crc_at])
            if not _payload_ok(kind, payload):
                self._discard(DiscardReason.BAD_PAYLOAD, seq, buf[pos : pos + total], at_s)
                pos += 1
                continue
            frames.append(Frame(seq, kind, payload))
            pos += total
        del buf[:pos]
