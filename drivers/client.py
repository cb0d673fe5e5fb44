"""ProgrammerClient: the driver's public API, returning :mod:`schemas` objects in canonical units.

Layers: ``ProgrammerClient`` -> :class:`~drivers.session.Session` (SEQ, resends, events) ->
:class:`~drivers.framing.FrameDecoder` / ``encode_frame`` -> a
:class:`~drivers.transport.Transport`. Payloads are built and read by :mod:`drivers.commands`
and :mod:`drivers.messages`.

State-changing commands (``REFILL``, ``RX_WRITE``, ``BOLUS``, ``CLOCK_SET``) follow one rule, so
that a dose is never recorded that the pump did not take, nor taken twice:

1. ``STATUS`` first: it names the pump and gives the log cursor (``log.next``) before the write.
   A pump with a pending (unreconciled) write is refused with
   :class:`~drivers.errors.ReconciliationRequiredError`; nothing is sent.
2. The request carries a ``request_id`` (given, or generated), which the pump copies into the
   log entry the action writes.
3. Only two answers are final: a well-formed, verified success (returned), or a definitive
   refusal (:class:`~drivers.errors.ProgrammerError` such as ``OUT_OF_RANGE``: nothing changed).
   Everything else (no response after the last resend, the port failing after the request
   went out, ``LINK_LOST`` or ``PUMP_FAULT``, a reply that cannot be read or verified) records a
   :class:`~schemas.programmer.PendingWrite`, blocks the pump and raises
   :class:`~drivers.errors.OutcomeUnknownError`. The request is never re-sent under a new SEQ.
4. :meth:`ProgrammerClient.reconcile` reads ``STATUS`` and ``LOG_READ`` from the cursor of step 1
   (or from ``first`` if the window moved past it), looks for the entry whose
   ``data.request_id`` is the pending one, reports whether the write landed, and lifts the block.

Pending writes are exposed (:attr:`ProgrammerClient.pending_writes`) and accepted back by the
constructor, so a caller that reopens the port keeps the block across clients.
"""

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from drivers.commands import (
    alarm_ack_request,
    bolus_request,
    check_request_id,
    clock_set_request,
    hello_request,
    link_request,
    parse_bolus,
    parse_clock_set,
    parse_hello,
    parse_link,
    parse_log_page,
    parse_refill,
    parse_rx_write,
    refill_request,
    rx_write_request,
    same_prescription,
    status_request,
    unlink_request,
)
from drivers.errors import (
    DeviceTimeoutError,
    LinkLostError,
    OutcomeUnknownError,
    ProtocolError,
    PumpFaultError,
    ReconciliationError,
    ReconciliationRequiredError,
    TransportError,
)
from drivers.framing import MAX_PAYLOAD_BYTES, Frame
from drivers.messages import (
    LOG_ENTRY_OF,
    LOG_READ_MAX_ENTRIES,
    Command,
    Request,
    parse_event,
    parse_log_entry,
    parse_status,
)
from drivers.paging import AdaptivePageSize, read_log_page
from drivers.reread import REPEATABLE_READS, exchange_read
from drivers.session import FrameListener, LinkCounters, Session, call_listener
from drivers.transport import Transport
from schemas.clock import Clock, SystemClock
from schemas.device_log import DeviceLogEntry
from schemas.prescription import Prescription
from schemas.programmer import (
    BolusKind,
    BolusStarted,
    ClockSetResult,
    LinkedPump,
    LogRead,
    PendingWrite,
    ProgrammerEvent,
    ProgrammerInfo,
    Reconciliation,
    RefillConfirmation,
    WrittenPrescription,
)
from schemas.status import AlarmCode, DrugInPump, PumpStatus

__all__ = ["PROTOCOL_VERSION", "EventCallback", "ProgrammerClient"]

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
EventCallback = Callable[[ProgrammerEvent], None]
_T = TypeVar("_T")


def _new_request_id() -> str:
    return uuid.uuid4().hex


class ProgrammerClient:
    """Talks HPP/1 to a handheld programmer over ``transport``.

    Args:
        transport: the byte pipe (see :func:`drivers.registry.open_transport`); owned from now on.
        clock: time source for deadlines and for ``PendingWrite.sent_at``.
        retries: resends after the first attempt of each request (HPP/1: 3).
        timeouts_s: per-command timeout overrides (defaults: 1.0 s, ``LINK`` 12 s, ``LOG_READ`` 3 s).
        initial_seq: first SEQ, for tests; random otherwise.
        on_frame: a frame listener for every frame and discard (e.g. a ``FrameTraceWriter``).
        pending: pending writes carried over from an earlier client; their pumps stay blocked.
        request_ids: generator of request_ids for state-changing commands given none.
        log_pages: the adaptive ``LOG_READ`` page size (default: 64 down to 1 entry).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        clock: Clock | None = None,
        retries: int = 3,
        timeouts_s: Mapping[str, float] | None = None,
        initial_seq: int | None = None,
        on_frame: FrameListener | None = None,
        pending: Iterable[PendingWrite] = (),
        request_ids: Callable[[], str] = _new_request_id,
        log_pages: AdaptivePageSize | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._session = Session(
            transport, clock=self._clock, retries=retries, timeouts_s=timeouts_s, initial_seq=initial_seq
        )
        if on_frame is not None:
            self._session.add_frame_listener(on_frame)
        self._pending: dict[str, PendingWrite] = {p.pump_serial: p for p in pending}
        self._request_ids = request_ids
        self._page_size = log_pages or AdaptivePageSize()
        self._event_listeners: list[EventCallback] = []
        self._session.add_event_listener(self._on_event_frame)
        # The write rule (STATUS, check, send) and reconcile() must not interleave between threads.
        self._write_lock = threading.RLock()
        self.linked_pump: LinkedPump | None = None

    # --- plumbing -----------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        return self._session

    @property
    def counters(self) -> LinkCounters:
        """A copy of the link counters."""
        return self._session.counters.snapshot()

    @property
    def pending_writes(self) -> tuple[PendingWrite, ...]:
        """State-changing requests with an unknown outcome, one per blocked pump."""
        return tuple(self._pending.values())

    def add_event_listener(self, listener: EventCallback) -> None:
        self._event_listeners.append(listener)

    def remove_event_listener(self, listener: EventCallback) -> None:
        self._event_listeners.remove(listener)

    def poll_events(self, timeout_s: float) -> int:
        """Listen for events between commands for up to ``timeout_s``; return how many arrived."""
        return self._session.poll(timeout_s)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _on_event_frame(self, frame: Frame) -> None:
        try:
            event = parse_event(frame.json_object())
        except ProtocolError as exc:
            logger.warning("unreadable event (SEQ %d): %s", frame.seq, exc)
            return
        for listener in list(self._event_listeners):
            call_listener(listener, event)

    def _call(self, request: Request) -> dict[str, Any]:
        if request.command in REPEATABLE_READS:
            reply = exchange_read(self._session, request)  # a read may be asked again on a noisy line
        else:
            reply = self._session.exchange(request)
        return reply.response.result_or_raise(command=request.command, seq=reply.seq)

    # --- reading ------------------------------------------------------------------------------

    def hello(self) -> ProgrammerInfo:
        """``HELLO``: identify the programmer.

        Raises:
            ProtocolError: the programmer speaks another protocol version.
            DriverError: any link or programmer error.
        """
        info = parse_hello(self._call(hello_request()))
        if info.protocol_version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"programmer speaks protocol {info.protocol_version}, this driver {PROTOCOL_VERSION}",
                command=Command.HELLO,
            )
        return info

    def link(self, pump_serial: str | None = None) -> LinkedPump:
        """``LINK`` to ``pump_serial`` (or the pump in range); up to 12 s per attempt.

        Raises:
            NoTelemetryError: a constant-flow pump, which has no telemetry.
            ProtocolError: the programmer linked a pump other than the one asked for.
            DriverError: any other link or programmer error.
        """
        pump = parse_link(self._call(link_request(pump_serial)))
        if pump_serial is not None and pump.serial != pump_serial:
            raise ProtocolError(f"asked to link {pump_serial}, linked {pump.serial}", command=Command.LINK)
        self.linked_pump = pump
        return pump

    def unlink(self) -> None:
        self._call(unlink_request())
        self.linked_pump = None

    def status(self) -> PumpStatus:
        """``STATUS`` of the linked pump.

        Raises:
            ProtocolError: a malformed result (missing field, wrong unit dimension, unknown alarm).
            DriverError: any other link or programmer error.
        """
        return parse_status(self._call(status_request()))

    @property
    def log_page_size(self) -> AdaptivePageSize:
        """The adaptive ``LOG_READ`` page size of this link (see :mod:`drivers.paging`)."""
        return self._page_size

    def read_log_pages(
        self, from_index: int, *, page_size: int = LOG_READ_MAX_ENTRIES, limit: int | None = None
    ) -> Iterator[LogRead]:
        """Yield the pump log from ``from_index`` one ``LOG_READ`` page at a time.

        Each page carries ``next_index``, so a caller can store it page by page and resume
        after a failure. Stops at the end of the log or after ``limit`` entries (``more`` set).
        Pages are at most ``page_size`` entries and shrink on a noisy line (:mod:`drivers.paging`):
        a page that fails after its last resend while the programmer is still heard (NAKs,
        damaged frames) is asked for again, smaller, under a new SEQ; the read gives up after
        :data:`~drivers.paging.FLOOR_FAILURES` failed pages in a row at the smallest size, or at once on a silent line.

        Raises:
            ValueError: a page size outside 1-64, a negative index or limit.
            ProtocolError: a malformed page or an entry type this driver does not know.
            DeviceTimeoutError, NakError: the page from ``next_index`` of the last yielded page
                could not be read (the pages yielded before stay valid).
            TransportError: the port failed.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be ≥ 0, got {limit}")
        if not 1 <= page_size <= LOG_READ_MAX_ENTRIES:
            raise ValueError(f"page_size must be 1-{LOG_READ_MAX_ENTRIES}, got {page_size}")
        index, read = from_index, 0
        while limit is None or read < limit:
            size = min(self._page_size.size, page_size)
            if limit is not None:
                size = min(size, limit - read)
            result = read_log_page(self._session, self._page_size, from_index=index, size=size)
            page = parse_log_page(result, from_index=index)
            entries = tuple(parse_log_entry(raw) for raw in page.entries)
            first = entries[0].index if entries else page.next_index
            read += len(entries)
            more = page.more
            yield LogRead(entries=entries, next_index=page.next_index, skipped_entries=max(0, first - index), more=more)
            if not more:
                return
            index = page.next_index

    def read_log(self, from_index: int, *, page_size: int = LOG_READ_MAX_ENTRIES, limit: int | None = None) -> LogRead:
        """The pump log from ``from_index`` to its end (or ``limit`` entries), as one :class:`LogRead`.

        Raises:
            ValueError: a page size outside 1-64, a negative index or limit.
            ProtocolError: a malformed page or an entry type this driver does not know.
        """
        entries: list[DeviceLogEntry] = []
        skipped = 0
        next_index, more = from_index, False
        for page in self.read_log_pages(from_index, page_size=page_size, limit=limit):
            entries.extend(page.entries)
            skipped += page.skipped_entries
            next_index, more = page.next_index, page.more
        return LogRead(entries=tuple(entries), next_index=next_index, skipped_entries=skipped, more=more)

    def ack_alarm(self, code: AlarmCode | str) -> None:
        """``ALARM_ACK``: silence an active alarm on the pump."""
        self._call(alarm_ack_request(code))

    # --- state-changing -----------------------------------------------------------------------

    def refill(
        self,
        *,
        volume_removed_ml: float,
        volume_added_ml: float,
        drug: DrugInPump,
        reservoir_after_ml: float,
        request_id: str | None = None,
    ) -> RefillConfirmation:
        """``REFILL``: record on the pump what was aspirated and added and what it now holds.

        Raises:
            ValueError: a negative or non-finite volume, or a malformed request_id.
            OutcomeUnknownError: the pump may or may not have recorded the refill; it is blocked.
            ReconciliationRequiredError: an earlier write to this pump is still unreconciled.
            OutOfRangeError: the programmer refused the volumes (nothing changed).
            DriverError: any other link or programmer error before the request was sent.
        """
        request = refill_request(
            volume_removed_ml=volume_removed_ml,
            volume_added_ml=volume_added_ml,
            drug=drug,
            reservoir_after_ml=reservoir_after_ml,
            request_id=self._request_id(request_id),
        )
        return self._write(request, lambda r: parse_refill(r, request_id=request.args["request_id"]))

    def write_prescription(
        self, prescription: Prescription, *, expect: str, request_id: str | None = None
    ) -> WrittenPrescription:
        """``RX_WRITE``: replace the prescription whose rx_id is ``expect``; the echo is verified.

        Raises:
            ValueError: a prescription with a bolus allowance (HPP/1 cannot carry it), or a bad request_id.
            ConflictError: ``expect`` is not the pump's current rx_id (nothing changed).
            OutcomeUnknownError: the pump may or may not run the new prescription, or its echo differs.
            ReconciliationRequiredError: an earlier write to this pump is still unreconciled.
            DriverError: any other link or programmer error before the request was sent.
        """
        request = rx_write_request(prescription, expect=expect, request_id=self._request_id(request_id))

        def parse(result: dict[str, Any]) -> WrittenPrescription:
            written = parse_rx_write(result, request_id=request.args["request_id"])
            if not same_prescription(prescription, written.prescription):
                raise ProtocolError(
                    f"the pump echoed {written.prescription!r}, not the prescription sent", command=Command.RX_WRITE
                )
            return written

        return self._write(request, parse)

    def bolus(
        self, *, kind: BolusKind, volume_ml: float, duration_s: float, request_id: str | None = None
    ) -> BolusStarted:
        """``BOLUS``: deliver ``volume_ml`` over ``duration_s`` (a bridge or priming bolus).

        Raises:
            ValueError: a non-positive volume or duration, or a malformed request_id.
            OutcomeUnknownError: the pump may or may not have started the bolus; it is blocked.
            ReconciliationRequiredError: an earlier write to this pump is still unreconciled.
            DriverError: any other link or programmer error before the request was sent.
        """
        request = bolus_request(
            kind=kind, volume_ml=volume_ml, duration_s=duration_s, request_id=self._request_id(request_id)
        )
        return self._write(request, lambda r: parse_bolus(r, request=request))

    def set_clock(self, time_at: datetime, *, request_id: str | None = None) -> ClockSetResult:
        """``CLOCK_SET``: set the pump clock to the aware time ``time_at`` (sent as UTC).

        Raises:
            ValueError: a naive datetime or a malformed request_id.
            OutcomeUnknownError: the pump clock may or may not have been set; it is blocked.
            ReconciliationRequiredError: an earlier write to this pump is still unreconciled.
            DriverError: any other link or programmer error before the request was sent.
        """
        request = clock_set_request(time_at=time_at, request_id=self._request_id(request_id))
        return self._write(request, lambda r: parse_clock_set(r, request_id=request.args["request_id"]))

    def reconcile(self) -> Reconciliation | None:
        """Settle the pending write of the linked pump from its log; None if it has none.

        Raises:
            ReconciliationError: the entry is not in the log and the log window moved past the
                cursor, so neither outcome can be proven (the block stays), or a matching entry
                has the wrong type.
            DriverError: a link or programmer error while reading (the block stays).
        """
        with self._write_lock:
            return self._reconcile()

    def _reconcile(self) -> Reconciliation | None:
        status = self.status()
        pending = self._pending.get(status.serial)
        if pending is None:
            return None
        start = max(pending.log_from_index, status.log.first)
        gap = start > pending.log_from_index
        expected_type = LOG_ENTRY_OF[Command(pending.command)]
        entry = None
        index = start
        while entry is None:
            result = read_log_page(self._session, self._page_size, from_index=index, size=self._page_size.size)
            page = parse_log_page(result, from_index=index)
            if page.entries and page.entries[0]["index"] > index:
                gap = True
            for raw in page.entries:
                data = raw.get("data")
                if isinstance(data, dict) and data.get("request_id") == pending.request_id:
                    entry = parse_log_entry(raw)
                    break
            if not page.more:
                break
            index = page.next_index
        if entry is not None and entry.type is not expected_type:
            raise ReconciliationError(f"entry {entry.index} carries {pending.request_id} but is {entry.type}")
        if entry is None and gap:
            raise ReconciliationError(
                f"no entry for {pending.request_id} on {pending.pump_serial}, but the log window moved past "
                f"index {pending.log_from_index}: the outcome cannot be proven"
            )
        del self._pending[status.serial]
        landed = entry is not None
        logger.info("reconciled %s %s on %s: landed=%s", pending.command, pending.request_id, status.serial, landed)
        return Reconciliation(pending=pending, landed=landed, entry=entry)

    def _request_id(self, given: str | None) -> str:
        return check_request_id(self._request_ids() if given is None else given)

    def _write(self, request: Request, parse: Callable[[dict[str, Any]], _T]) -> _T:
        """Run a state-changing request under the rule of the module docstring."""
        if len(request.encode()) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"{request.command} does not fit in one frame")
        with self._write_lock:
            return self._write_locked(request, parse)

    def _write_locked(self, request: Request, parse: Callable[[dict[str, Any]], _T]) -> _T:
        status = self.status()  # nothing is sent before this succeeds
        blocked = self._pending.get(status.serial)
        if blocked is not None:
            raise ReconciliationRequiredError(
                f"{blocked.command} {blocked.request_id} to {status.serial} has an unknown outcome; "
                "run reconcile() before any further write",
                pending=blocked,
                command=request.command,
            )
        pending = PendingWrite(
            command=request.command,
            request_id=request.args["request_id"],
            pump_serial=status.serial,
            log_from_index=status.log.next,
            sent_at=self._clock.now(),
            reason="",
        )
        try:
            reply = self._session.exchange(request)
        except (DeviceTimeoutError, ProtocolError, TransportError) as exc:
            raise self._unknown(pending, f"no verified response: {exc}") from exc
        except BaseException:  # interrupted mid-exchange: the request may be on the wire
            self._unknown(pending, "interrupted")
            raise
        try:
            result = reply.response.result_or_raise(command=request.command, seq=reply.seq)
        except (LinkLostError, PumpFaultError) as exc:  # the pump may have acted before the failure
            raise self._unknown(pending, f"the programmer answered {exc.code}") from exc
        try:
            return parse(result)
        except ProtocolError as exc:
            raise self._unknown(pending, f"success reported but not verifiable: {exc}") from exc

    def _unknown(self, pending: PendingWrite, reason: str) -> OutcomeUnknownError:
        pending = pending.model_copy(update={"reason": reason})
        self._pending[pending.pump_serial] = pending
        logger.warning(
            "%s %s to %s: outcome unknown (%s)", pending.command, pending.request_id, pending.pump_serial, reason
        )
        return OutcomeUnknownError(
            f"{pending.command} {pending.request_id} to {pending.pump_serial}: outcome unknown ({reason}); "
            "reconcile() before any further write",
            pending=pending,
            port=self._session.transport.url,
        )
