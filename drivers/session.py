"""Exchanges over a transport: SEQ, resends, deadlines, events, link counters and trace hooks.

One exchange, as HPP/1 §3 defines it::

    host                                    programmer
     | REQUEST seq=s  (bytes B)  ----------->  |   executes, caches (s, B) -> response
     | <----------- RESPONSE seq=s             |
     |      ... timeout, or NAK seq=s ...      |
     | REQUEST seq=s  (the same bytes B) --->  |   same (s, B): resends the cached response
     | <----------- RESPONSE seq=s             |

Rules this layer keeps:

- One request outstanding at a time: :meth:`Session.exchange` holds a lock.
- SEQ is the previous one plus one, modulo 256. The first SEQ of a session is random: the
  programmer caches its last request and answers an identical (SEQ, bytes) pair from the cache
  without executing it. A host that restarted at a fixed SEQ could send exactly the bytes of
  that cached request (the same ``STATUS`` or, worse, the same ``REFILL``) and be handed the
  stale cached response as if it were fresh. ``initial_seq`` is injectable for tests only.
- Deadlines come from the injected :class:`~schemas.clock.Clock` (``monotonic()``) and start when
  the request has been written: 1.0 s per attempt, ``LINK`` 12 s, ``LOG_READ`` 3 s.
- On a timeout, or on a NAK carrying the outstanding SEQ, the *same bytes* are resent, at most
  ``retries`` (3) times. Then the exchange fails: :class:`~drivers.errors.NakError` if every
  attempt was NAKed, :class:`~drivers.errors.DeviceTimeoutError` otherwise. The caller (the
  client) decides what an unanswered state-changing request means.
- EVENT frames go to the event listeners, whenever they arrive, and are never a response.
  A RESPONSE with another SEQ is a late duplicate of an earlier exchange: it is counted in
  ``stale_responses`` and dropped. The host never sends a NAK.
- Every valid frame sent or received, and every discard of the decoder, is counted in
  :class:`LinkCounters` and passed to the frame listeners (e.g. :class:`drivers.logio.FrameTraceWriter`).

Listeners run inside the exchange: an exception in one is logged and swallowed, because the
request is already on the wire and aborting the exchange would turn a known outcome into an
unknown one.
"""

import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final, Protocol, TypeVar

from drivers.errors import DeviceTimeoutError, NakError
from drivers.framing import INTER_BYTE_TIMEOUT_S, Discard, DiscardReason, Frame, FrameDecoder, FrameType, encode_frame
from drivers.messages import Request, Response, parse_response
from drivers.transport import Transport
from schemas.clock import Clock, SystemClock

__all__ = [
    "DEFAULT_TIMEOUTS_S",
    "DEFAULT_TIMEOUT_S",
    "Direction",
    "DiscardRecord",
    "EventListener",
    "FrameListener",
    "FrameRecord",
    "LinkCounters",
    "Reply",
    "Session",
    "TraceRecord",
    "call_listener",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S: Final = 1.0
DEFAULT_TIMEOUTS_S: Final[Mapping[str, float]] = {"LINK": 12.0, "LOG_READ": 3.0}
"""Per-command response timeouts of HPP/1 §3; every other command waits DEFAULT_TIMEOUT_S."""


class Direction(StrEnum):
    TX = "tx"
    RX = "rx"


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """A valid frame sent or received. ``raw`` is the exact bytes; ``attempt`` 0 is the first send."""

    at_s: float
    direction: Direction
    frame: Frame
    raw: bytes
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class DiscardRecord:
    """Received bytes the decoder threw away (see :class:`~drivers.framing.Discard`)."""

    at_s: float
    discard: Discard


TraceRecord = FrameRecord | DiscardRecord


class FrameListener(Protocol):
    """Called with every frame sent or received and every discard, in order."""

    def __call__(self, record: TraceRecord, /) -> None: ...


EventListener = Callable[[Frame], None]
"""Called with every EVENT frame."""

_L = TypeVar("_L")


@dataclass(slots=True)
class LinkCounters:
    """What happened on the link since the session opened; :meth:`snapshot` copies it."""

    exchanges: int = 0
    failed_exchanges: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    bytes_received: int = 0
    resends: int = 0
    timeouts: int = 0
    naks: int = 0
    crc_errors: int = 0
    frame_errors: int = 0
    inter_byte_timeouts: int = 0
    skipped_bytes: int = 0
    events: int = 0
    stale_responses: int = 0
    unexpected_frames: int = 0

    def snapshot(self) -> "LinkCounters":
        return replace(self)


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one exchange: its SEQ, the parsed envelope, and how many sends it took."""

    seq: int
    response: Response
    attempts: int


class _Nak:
    pass


_NAK: Final = _Nak()


class Session:
    """Runs exchanges with the programmer over ``transport`` (see the module rules).

    Args:
        transport: the byte pipe; the session owns it from now on (:meth:`close` closes it).
        clock: time source for deadlines and decoder timestamps.
        retries: resends after the first attempt (HPP/1: 3).
        timeouts_s: per-command overrides of :data:`DEFAULT_TIMEOUTS_S`.
        default_timeout_s: the timeout of commands without their own.
        initial_seq: first SEQ (0-255); random when None, which production code must keep.
        poll_interval_s: longest single read while waiting, so partial frames time out on time.
        read_chunk_bytes: most bytes asked for per read.

    Raises:
        ValueError: a negative ``retries``, a non-positive timeout or interval, or a SEQ outside 0-255.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        clock: Clock | None = None,
        retries: int = 3,
        timeouts_s: Mapping[str, float] | None = None,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        initial_seq: int | None = None,
        poll_interval_s: float = 0.05,
        read_chunk_bytes: int = 4096,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be ≥ 0, got {retries}")
        self._timeouts_s = {**DEFAULT_TIMEOUTS_S, **(timeouts_s or {})}
        if default_timeout_s <= 0 or poll_interval_s <= 0 or any(t <= 0 for t in self._timeouts_s.values()):
            raise ValueError("timeouts and the poll interval must be positive")
        if initial_seq is not None and not 0 <= initial_seq <= 0xFF:
            raise ValueError(f"initial_seq must be 0-255, got {initial_seq}")
        self._transport = transport
        self._clock = clock or SystemClock()
        self._retries = retries
        self._default_timeout_s = default_timeout_s
        self._poll_interval_s = poll_interval_s
        self._chunk = read_chunk_bytes
        self._next_seq = secrets.randbelow(0x100) if initial_seq is None else initial_seq
        self._decoder = FrameDecoder(inter_byte_timeout_s=INTER_BYTE_TIMEOUT_S)
        self._lock = threading.Lock()
        self._frame_listeners: list[FrameListener] = []
        self._event_listeners: list[EventListener] = []
        self.counters = LinkCounters()

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def timeout_for(self, command: str) -> float:
        """The response timeout of one attempt of ``command``, in seconds."""
        return self._timeouts_s.get(command, self._default_timeout_s)

    def add_frame_listener(self, listener: FrameListener) -> None:
        self._frame_listeners.append(listener)

    def remove_frame_listener(self, listener: FrameListener) -> None:
        self._frame_listeners.remove(listener)

    def add_event_listener(self, listener: EventListener) -> None:
        self._event_listeners.append(listener)

    def remove_event_listener(self, listener: EventListener) -> None:
        self._event_listeners.remove(listener)

    def exchange(self, request: Request) -> Reply:
        """Send ``request`` and return the programmer's response to it.

        Raises:
            DeviceTimeoutError: no response after the last resend.
            NakError: every attempt was NAKed.
            ProtocolError: the response is not a valid response envelope.
            TransportError: the port failed (the request may or may not have gone out).
            ValueError: the request does not fit in one frame.
        """
        payload = request.encode()
        command = str(request.command)
        timeout_s = self.timeout_for(command)
        with self._lock:
            seq = self._next_seq
            data = encode_frame(seq, FrameType.REQUEST, payload)
            self._next_seq = (seq + 1) % 0x100
            self.counters.exchanges += 1
            self._decoder.resume(self._clock.monotonic())
            attempts = self._retries + 1
            naks = 0
            try:
                for attempt in range(attempts):
                    outcome = self._attempt(seq, data, payload, attempt, timeout_s)
                    if isinstance(outcome, Frame):
                        return Reply(seq, parse_response(outcome.json_object(), command=command), attempt + 1)
                    if outcome is _NAK:
                        naks += 1
                    else:
                        self.counters.timeouts += 1
            except BaseException:  # the port failed, or the response was no envelope
                self.counters.failed_exchanges += 1
                raise
            self.counters.failed_exchanges += 1
        detail = (
            f"{command} (SEQ {seq}): no response after {attempts} attempts ({naks} NAKed, {attempts - naks} timed out)"
        )
        error = (NakError if naks == attempts else DeviceTimeoutError)(
            detail, port=self._transport.url, command=command, seq=seq
        )
        error.add_note(f"after {attempts} attempts")
        raise error

    def poll(self, timeout_s: float) -> int:
        """Listen between exchanges for up to ``timeout_s``, delivering events; return how many came.

        Raises:
            TransportError: the port failed.
        """
        with self._lock:
            before = self.counters.events
            now_s = self._clock.monotonic()
            self._decoder.resume(now_s)
            deadline_s = now_s + max(timeout_s, 0.0)
            while True:
                self._ingest(
                    self._transport.read(self._chunk, min(max(deadline_s - now_s, 0.0), self._poll_interval_s))
                )
                now_s = self._clock.monotonic()
                if now_s >= deadline_s:
                    return self.counters.events - before

    def close(self) -> None:
        """Close the transport."""
        self._transport.close()

    def _attempt(self, seq: int, data: bytes, payload: bytes, attempt: int, timeout_s: float) -> Frame | _Nak | None:
        """Send (or resend) the request bytes and wait for the outcome of this attempt."""
        if attempt:
            self.counters.resends += 1
        self._transport.write(data)
        sent_at_s = self._clock.monotonic()
        self.counters.frames_sent += 1
        self._notify(FrameRecord(sent_at_s, Direction.TX, Frame(seq, FrameType.REQUEST, payload), data, attempt))
        return self._await(seq, sent_at_s + timeout_s)

    def _await(self, seq: int, deadline_s: float) -> Frame | _Nak | None:
        while True:
            remaining_s = deadline_s - self._clock.monotonic()
            if remaining_s <= 0:
                return None
            outcome = self._ingest(self._transport.read(self._chunk, min(remaining_s, self._poll_interval_s)), seq)
            if outcome is not None:
                return outcome

    def _ingest(self, chunk: bytes, expect_seq: int | None = None) -> Frame | _Nak | None:
        """Decode ``chunk``, count and trace everything, dispatch events; return a match for ``expect_seq``."""
        now_s = self._clock.monotonic()
        self.counters.bytes_received += len(chunk)
        skipped_before = self._decoder.skipped_bytes
        frames = self._decoder.feed(chunk, now_s)
        self.counters.skipped_bytes += self._decoder.skipped_bytes - skipped_before
        for discard in self._decoder.drain_discards():
            if discard.reason is DiscardReason.CRC_MISMATCH:
                self.counters.crc_errors += 1
            elif discard.reason is DiscardReason.INTER_BYTE_TIMEOUT:
                self.counters.inter_byte_timeouts += 1
            else:
                self.counters.frame_errors += 1
            self._notify(DiscardRecord(now_s, discard))
        found: Frame | _Nak | None = None
        for frame in frames:
            self.counters.frames_received += 1
            self._notify(FrameRecord(now_s, Direction.RX, frame, frame.to_bytes()))
            if frame.type is FrameType.EVENT:
                self.counters.events += 1
                for listener in list(self._event_listeners):
                    call_listener(listener, frame)
            elif frame.type is FrameType.RESPONSE and frame.seq == expect_seq and not isinstance(found, Frame):
                found = frame
            elif frame.type is FrameType.RESPONSE:
                self.counters.stale_responses += 1
            elif frame.type is FrameType.NAK:
                self.counters.naks += 1
                if frame.seq == expect_seq and found is None:
                    found = _NAK
            else:  # a REQUEST: the programmer never sends one
                self.counters.unexpected_frames += 1
        return found

    def _notify(self, record: TraceRecord) -> None:
        for listener in list(self._frame_listeners):
            call_listener(listener, record)


def call_listener(listener: Callable[[_L], None], argument: _L) -> None:
    """Call ``listener``; log and swallow what it raises (see the module docstring for why)."""
    try:
        listener(argument)
    except Exception:  # a listener must never abort an exchange already on the wire
        logger.exception("listener %r failed", listener)
