"""A simulated handheld programmer serving HPP/1 for one or more simulated pumps.

Bytes in, bytes out, on a clock; no I/O (``simulators/transport.py`` and ``simulators/serve.py``
put it on an in-process pipe, a pty or TCP). It follows the protocol (docs/protocol.md):

- frames are decoded with the driver's own codec; a discarded frame whose header was readable
  is answered with a NAK carrying its SEQ;
- a REQUEST whose SEQ and payload bytes equal the last executed one gets the cached RESPONSE
  again and is not executed again; the cache is lost on a restart or a (re)link;
- a copy of the request still being executed (slow telemetry) is ignored: its answer is coming;
- EVENT frames (own SEQ counter) announce pump alarms, battery changes and link loss;
- a :class:`~simulators.link_faults.LinkFaultPlan` injects corruption, drops, delays, duplicates,
  late duplicates, lost responses after a write, restarts and an unplug;
- ``baudrate`` paces the output at 10 bits per byte, for benches that compare with wire time.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from drivers.framing import FrameDecoder, FrameType, encode_frame
from drivers.messages import format_time
from schemas.clock import Clock
from schemas.device_log import LogEntryType
from schemas.units import format_quantity
from simulators.link_faults import LinkFaultPlan
from simulators.programmable import PumpCommandError, SimulatedProgrammablePump
from simulators.programmer_commands import ArgReader, log_page, prescription_result, status_result

__all__ = ["ProgrammerUnplugged", "SimulatedProgrammer"]

STATE_CHANGING = frozenset({"REFILL", "RX_WRITE", "BOLUS", "CLOCK_SET"})
TELEMETRY = frozenset({"LINK", "STATUS", "LOG_READ", "REFILL", "RX_WRITE", "BOLUS", "CLOCK_SET", "ALARM_ACK"})
LINK_TIME_S = 0.5  # finding and waking the pump by telemetry


def _command_of(payload: bytes) -> str | None:
    command = json.loads(payload).get("cmd")  # the decoder only passes UTF-8 JSON objects
    return command if isinstance(command, str) else None


class ProgrammerUnplugged(Exception):  # noqa: N818 - a state, reported to the transport
    """The cable was pulled: nothing more goes in or out."""


@dataclass(slots=True)
class _Pending:
    release_s: float
    data: bytes


class SimulatedProgrammer:
    """One programmer; ``pumps`` are the programmable pumps in telemetry range."""

    def __init__(
        self,
        pumps: Iterable[SimulatedProgrammablePump],
        *,
        clock: Clock,
        constant_flow_serials: Iterable[str] = (),
        faults: LinkFaultPlan | None = None,
        baudrate: int | None = None,
        serial: str = "PRG-SIM-1",
        model: str = "SIM-PROGRAMMER",
        firmware: str = "1.0.0",
    ) -> None:
        self.pumps = {p.serial: p for p in pumps}
        self._clock = clock
        self._no_telemetry = frozenset(constant_flow_serials)
        self.faults = faults or LinkFaultPlan()
        self.baudrate = baudrate
        self.identity = {"model": model, "serial": serial, "firmware": firmware}
        self._decoder = FrameDecoder()
        self._outbox: list[_Pending] = []
        self._ready = bytearray()
        self._wire_free_s = 0.0
        self._cache: tuple[int, bytes, bytes] | None = None  # seq, request payload, response frame
        self._in_flight: tuple[int, bytes, float] | None = None  # seq, payload, when its answer is due
        self._late: bytes | None = None
        self._pending_frame = b""
        self._linked: SimulatedProgrammablePump | None = None
        self._event_seq = 0
        self._announced: dict[str, int] = {}  # pump serial -> log index already announced
        self.frames_received = 0
        self.naks_sent = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.executed: list[tuple[str, str | None]] = []  # (command, request_id) actually run on a pump
        self.log_reads: list[tuple[int, int]] = []  # (from, max) of every LOG_READ executed
        self.unplugged = False

    # ---- bytes in / bytes out -----------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Bytes from the host.

        Raises:
            ProgrammerUnplugged: the cable was pulled.
        """
        if self.unplugged:
            raise ProgrammerUnplugged
        now = self._clock.monotonic()
        self.bytes_received += len(data)
        corrupted = self.faults.corrupt(data)
        if corrupted != data:
            self.faults.injected.corrupted_in_frames += 1
        for frame in self._decoder.feed(corrupted, now):
            self.frames_received += 1
            if frame.type is FrameType.REQUEST:
                # At a configured baud rate the request's last byte lands only after its wire time.
                arrived = now + (len(frame.payload) + 8) * 10 / self.baudrate if self.baudrate else now
                self._on_request(frame.seq, frame.payload, arrived)
        for discard in self._decoder.drain_discards():
            if discard.seq is not None:
                self.naks_sent += 1
                self._emit(encode_frame(discard.seq, FrameType.NAK), now)

    def pending_output(self, max_bytes: int | None = None) -> bytes:
        """Bytes due for the host by now (what a port would have received), at most ``max_bytes``."""
        if self.unplugged and not self._ready:
            raise ProgrammerUnplugged
        now = self._clock.monotonic()
        self._finish_in_flight(now)
        for pending in sorted((p for p in self._outbox if p.release_s <= now), key=lambda p: p.release_s):
            self._ready += pending.data
        self._outbox = [p for p in self._outbox if p.release_s > now]
        size = len(self._ready) if max_bytes is None else max_bytes
        data = bytes(self._ready[:size])
        del self._ready[:size]
        return data

    def next_output_at(self) -> float | None:
        """When the next bytes become due (monotonic seconds), or None."""
        if self._ready:
            return self._clock.monotonic()
        times = [p.release_s for p in self._outbox]
        if self._in_flight is not None:
            times.append(self._in_flight[2])
        return min(times) if times else None

    def _emit(self, frame: bytes, now: float, *, delay_s: float = 0.0, faults: bool = True) -> None:
        if faults:
            corrupted = self.faults.corrupt(frame)
            if corrupted != frame:
                self.faults.injected.corrupted_out_frames += 1
                frame = corrupted
        start = max(now + delay_s, self._wire_free_s if self.baudrate else 0.0)
        end = start + (len(frame) * 10 / self.baudrate if self.baudrate else 0.0)
        self._wire_free_s = end
        self.bytes_sent += len(frame)
        self._outbox.append(_Pending(end, frame))

    # ---- requests ---------------------------------------------------------------------

    def _on_request(self, seq: int, payload: bytes, now: float) -> None:
        if self._in_flight is not None and self._in_flight[:2] == (seq, payload):
            return  # a resend of what is still being executed: its answer is on the way
        if self._cache is not None and self._cache[:2] == (seq, payload):
            self._emit(self._cache[2], now)  # idempotent retransmission: never execute twice
            return
        if self.faults.unplug_before_execute and self._unplug_due(_command_of(payload)):
            self.faults.injected.unplugs += 1
            self.unplugged = True  # the request is lost in the cable: nothing is executed
            return
        command, response = self._execute(payload)
        frame = encode_frame(seq, FrameType.RESPONSE, json.dumps(response, separators=(",", ":")).encode())
        self._cache = (seq, payload, frame)
        if self._late is not None:
            late, self._late = self._late, None
            self._emit(late, now)
            self.faults.injected.late_duplicates += 1
        if self._after_execute(command, response, frame, now):
            return
        delay = self.faults.telemetry_delay_s if command in TELEMETRY else 0.0
        if command == "LINK":
            delay += LINK_TIME_S
        if delay > 0:
            self._in_flight = (seq, payload, now + delay)
            self._pending_frame = frame
            return
        self._send_response(frame, now)
        self._announce_events(now)

    def _after_execute(self, command: str, response: dict[str, Any], frame: bytes, now: float) -> bool:
        """Apply the response faults; True when the response must not be sent (now)."""
        plan = self.faults
        if command in STATE_CHANGING and response.get("ok") and plan.chance(plan.lose_after_write_rate):
            plan.injected.lost_after_write += 1
            return True
        if command in STATE_CHANGING and plan.chance(plan.restart_rate):
            plan.injected.restarts += 1
            self.restart()
            return True
        if plan.chance(plan.drop_response_rate):
            plan.injected.dropped_responses += 1
            return True
        if self._unplug_due(command):
            plan.injected.unplugs += 1
            self._emit(frame[: len(frame) // 2], now, faults=False)
            self.unplugged = True
            return True
        return False

    def _unplug_due(self, command: str | None) -> bool:
        after, at_command = self.faults.unplug_after_frames, self.faults.unplug_at_command
        return (after is not None and self.frames_received >= after) or (
            at_command is not None and command == at_command
        )

    def _send_response(self, frame: bytes, now: float) -> None:
        plan = self.faults
        delay = 0.0
        if plan.chance(plan.delay_response_rate):
            plan.injected.delayed_responses += 1
            delay = plan.delay_s
        self._emit(frame, now, delay_s=delay)
        if plan.chance(plan.duplicate_response_rate):
            plan.injected.duplicated_responses += 1
            self._emit(frame, now, delay_s=delay)
        if plan.chance(plan.late_duplicate_rate):
            self._late = frame

    def _finish_in_flight(self, now: float) -> None:
        if self._in_flight is not None and self._in_flight[2] <= now:
            self._in_flight = None
            self._send_response(self._pending_frame, now)
            self._announce_events(now)

    def restart(self) -> None:
        """Power-cycle: the retransmission cache and the link are lost."""
        self._cache = None
        self._in_flight = None
        self._linked = None
        self._decoder.reset()

    def replug(self) -> None:
        """Plug the cable back in after an unplug; the plan's unplug is spent (it does not fire again).

        The programmer powers up again, so its retransmission cache, the link and any half-sent
        output are gone, as on a real one.
        """
        self.restart()
        self._outbox.clear()
        self._ready.clear()
        self._late = None
        self._pending_frame = b""
        self._wire_free_s = 0.0
        self.faults.unplug_after_frames = None
        self.faults.unplug_at_command = None
        self.unplugged = False

    def _execute(self, payload: bytes) -> tuple[str, dict[str, Any]]:
        request = json.loads(payload)  # the decoder only passes UTF-8 JSON objects
        command = request.get("cmd")
        try:
            if not isinstance(command, str):
                raise PumpCommandError("BAD_REQUEST", "cmd must be a string")
            handler = self._handlers().get(command)
            if handler is None:
                raise PumpCommandError("UNKNOWN_COMMAND", f"unknown command {command!r}")
            result = handler(ArgReader(request.get("args", {})))
        except PumpCommandError as exc:
            return str(command), {"ok": False, "error": {"code": exc.code, "message": str(exc)}}
        return command, {"ok": True, "result": result}

    def _handlers(self) -> dict[str, Callable[[ArgReader], dict[str, Any]]]:
        return {
            "HELLO": lambda _: {"programmer": self.identity, "protocol": 1, "max_payload": 4096},
            "LINK": self._link,
            "UNLINK": self._unlink,
            "STATUS": lambda _: status_result(self._pump().status()),
            "LOG_READ": self._log_read,
            "REFILL": self._refill,
            "RX_WRITE": self._rx_write,
            "BOLUS": self._bolus,
            "CLOCK_SET": self._clock_set,
            "ALARM_ACK": self._alarm_ack,
        }

    # ---- commands -------------------------------------------------------------------

    def _pump(self) -> SimulatedProgrammablePump:
        if self._linked is None:
            raise PumpCommandError("NOT_LINKED", "no pump is linked: send LINK first")
        return self._linked

    def _link(self, args: ArgReader) -> dict[str, Any]:
        serial = args.text("pump_serial", required=False)
        if serial is not None and serial in self._no_telemetry:
            raise PumpCommandError("NO_TELEMETRY", f"{serial} is a constant-flow pump: it has no telemetry")
        if serial is None:
            if len(self.pumps) != 1:
                raise PumpCommandError("NOT_FOUND", f"{len(self.pumps)} pumps in range: name one")
            serial = next(iter(self.pumps))
        pump = self.pumps.get(serial)
        if pump is None:
            raise PumpCommandError("NOT_FOUND", f"pump {serial} is not in range")
        self._linked = pump
        self._cache = None  # the retransmission cache does not survive a relink
        pump.sync()
        self._announced.setdefault(pump.serial, pump.log.next)
        capacity = format_quantity(pump.model.capacity_ml, "volume")
        return {
            "pump": {
                "serial": pump.serial,
                "model": pump.model.model_id,
                "family": "programmable",
                "reservoir_capacity": capacity,
            }
        }

    def _log_read(self, args: ArgReader) -> dict[str, Any]:
        pump = self._pump()
        from_index, max_entries = args.integer("from"), args.integer("max")
        self.log_reads.append((from_index, max_entries))
        return log_page(pump, from_index, max_entries)

    def _unlink(self, _: ArgReader) -> dict[str, Any]:
        self._linked = None
        return {}

    def _record(self, command: str, request_id: str | None) -> None:
        self.executed.append((command, request_id))

    def _refill(self, args: ArgReader) -> dict[str, Any]:
        pump = self._pump()
        request_id = args.request_id()
        reservoir = pump.record_refill(
            volume_removed_ml=args.quantity("volume_removed", "volume"),
            volume_added_ml=args.quantity("volume_added", "volume"),
            reservoir_after_ml=args.quantity("reservoir_after", "volume"),
            drug=args.drug("drug"),
            request_id=request_id,
        )
        self._record("REFILL", request_id)
        low = pump.low_reservoir_date()
        return {
            "reservoir": format_quantity(reservoir, "volume"),
            "low_reservoir_date": format_time(low) if low else None,
        }

    def _rx_write(self, args: ArgReader) -> dict[str, Any]:
        pump = self._pump()
        request_id = args.request_id()
        prescription = args.prescription("prescription")
        rx_id = pump.write_prescription(prescription, expect=args.text("expect") or "", request_id=request_id)
        self._record("RX_WRITE", request_id)
        return {"rx_id": rx_id, "prescription": prescription_result(pump.prescription)}

    def _bolus(self, args: ArgReader) -> dict[str, Any]:
        pump = self._pump()
        request_id = args.request_id()
        kind = args.text("kind") or ""
        volume = args.quantity("volume", "volume")
        duration_s = args.quantity("duration", "duration") * 86_400
        started = pump.bolus(kind=kind, volume_ml=volume, duration_s=duration_s, request_id=request_id)
        self._record("BOLUS", request_id)
        return {"started": format_time(started)}

    def _clock_set(self, args: ArgReader) -> dict[str, Any]:
        pump = self._pump()
        request_id = args.request_id()
        previous, new = pump.set_clock(args.moment("time"), request_id=request_id)
        self._record("CLOCK_SET", request_id)
        return {"previous": format_time(previous), "time": format_time(new)}

    def _alarm_ack(self, args: ArgReader) -> dict[str, Any]:
        self._pump().acknowledge_alarm(args.alarm("code"))
        return {}

    # ---- events ---------------------------------------------------------------------

    def _event(self, body: dict[str, Any], now: float) -> None:
        self._event_seq = (self._event_seq + 1) % 256
        self._emit(
            encode_frame(self._event_seq, FrameType.EVENT, json.dumps(body, separators=(",", ":")).encode()), now
        )

    def _announce_events(self, now: float) -> None:
        """EVENT frames for alarms and battery changes the linked pump logged since the last look."""
        pump = self._linked
        if pump is None:
            return
        cursor = self._announced.get(pump.serial, pump.log.next)
        entries, following, _ = pump.log.read(cursor, 64)
        for entry in entries:
            if entry.type is LogEntryType.ALARM_RAISED:
                self._event(
                    {"event": "ALARM", "code": entry.data["code"], "time": format_time(entry.device_time_at)}, now
                )
            elif entry.type is LogEntryType.BATTERY_STATE:
                self._event({"event": "BATTERY", "state": entry.data["state"]}, now)
        self._announced[pump.serial] = following if entries else cursor

    def lose_link(self) -> None:
        """The pump moved out of telemetry range: LINK_LOST now, the link is gone."""
        self._linked = None
        self._event({"event": "LINK_LOST"}, self._clock.monotonic())

    def restore_link(self) -> None:
        self._event({"event": "LINK_RESTORED"}, self._clock.monotonic())
