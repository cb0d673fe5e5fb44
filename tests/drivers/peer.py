"""A scripted programmer for driver tests: a TEST DOUBLE, not the simulator.

``ScriptedPeer`` implements the Transport interface in memory. Each frame the host writes is
decoded, answered by a handler (``handlers[cmd](args) -> response payload``) and queued for
``read``, which advances the test's FixedClock instead of sleeping. It keeps the one behaviour
of a programmer that the driver's safety depends on (HPP/1 §3: an identical SEQ + payload is
answered from the cache of the last request, not executed again) and a tiny log so that
reconciliation can be exercised. Faults are scripted per received request, in order.
The real simulated programmer lives in ``simulators/``.
"""

import json
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from drivers.errors import FrameError, TransportError
from drivers.framing import FrameType, decode_frame, encode_frame
from tests.support import FixedClock

Fault = Literal[
    "lose_request",  # the request never reaches the programmer
    "nak",  # the programmer NAKs the request (as if it arrived corrupted) and does not execute it
    "drop_response",  # executed, the response is lost
    "corrupt_response",  # executed, one payload byte of the response flipped on the way
    "late_response",  # executed, the response arrives after 1.5 s
    "stale_first",  # a RESPONSE for the previous SEQ arrives before the real one
    "event_first",  # an EVENT carrying the request's own SEQ arrives before the response
    "trickle",  # the response arrives one byte every 50 ms (inside the inter-byte timeout)
    "stall",  # the response stops halfway for 300 ms (an inter-byte timeout), then the rest comes
]
Handler = Callable[[dict[str, Any]], dict[str, Any]]

SERIAL = "SM2-00417"
LATENCY_S = 0.02


def ok(result: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "result": result}


def error(code: str, message: str = "refused") -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def _unknown_command(args: dict[str, Any]) -> dict[str, Any]:
    return error("UNKNOWN_COMMAND")


def status_result(*, first: int = 0, next_index: int = 0, **changes: Any) -> dict[str, Any]:
    """The spec's STATUS example, with the log cursor and any top-level key replaced."""
    result: dict[str, Any] = {
        "pump": {"serial": SERIAL, "model": "programmable-20", "family": "programmable"},
        "clock": "2026-11-22T09:14:05Z",
        "reservoir": "11.84 mL",
        "reservoir_capacity": "20 mL",
        "low_reservoir_alarm": "2 mL",
        "drug": {"name": "baclofen", "concentration": "2000 ug/mL"},
        "prescription": {"rx_id": "a91f", "mode": "continuous", "rate": "0.25 mL/d"},
        "battery": {"state": "OK", "months_to_eri": 31},
        "alarms": [{"code": "LOW_RESERVOIR", "since": "2026-11-20T03:00:00Z"}],
        "log": {"first": first, "next": next_index},
    }
    result.update(changes)
    return result


class ScriptedPeer:
    """In-memory Transport answering from ``handlers``; see the module docstring."""

    url = "scripted://programmer"

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.faults: deque[Fault | None] = deque()
        self.writes: list[bytes] = []  # every frame the host wrote, as written
        self.executed: list[tuple[str, dict[str, Any]]] = []
        self.log: list[dict[str, Any]] = []
        self.log_first = 0
        self.rx_id = "a91f"
        self.closed = False
        self._outbox: list[tuple[float, bytes]] = []
        self._cache: tuple[int, bytes, bytes] | None = None
        self._event_seq = 0
        self.handlers: dict[str, Handler] = {
            "HELLO": lambda a: ok(
                {
                    "programmer": {"model": "HP-1", "serial": "PG-0042", "firmware": "1.4.2"},
                    "protocol": 1,
                    "max_payload": 4096,
                }
            ),
            "LINK": lambda a: ok(
                {
                    "pump": {
                        "serial": SERIAL,
                        "model": "programmable-20",
                        "family": "programmable",
                        "reservoir_capacity": "20 mL",
                    }
                }
            ),
            "UNLINK": lambda a: ok({}),
            "STATUS": lambda a: ok(status_result(first=self.log_first, next_index=self.log_next)),
            "LOG_READ": self._log_read,
            "REFILL": self._refill,
            "RX_WRITE": self._rx_write,
            "BOLUS": lambda a: self._logged("BOLUS", a, {"started": "2026-11-02T09:00:00Z"}),
            "CLOCK_SET": lambda a: self._logged(
                "CLOCK_SET", a, {"previous": "2026-11-02T08:59:30Z", "time": a["time"]}
            ),
            "ALARM_ACK": lambda a: ok({}),
        }

    # --- script helpers ---------------------------------------------------------------------

    @property
    def log_next(self) -> int:
        return self.log_first + len(self.log)

    def commands(self) -> list[str]:
        """Commands of every request frame the host wrote (resends included)."""
        return [json.loads(decode_frame(w).payload)["cmd"] for w in self.writes]

    def add_log(self, kind: str, data: dict[str, Any] | None = None) -> None:
        self.log.append({"index": self.log_next, "time": "2026-11-02T09:00:00Z", "type": kind, "data": data or {}})

    def push_event(self, payload: dict[str, Any], *, delay_s: float = LATENCY_S) -> None:
        self._event_seq = (self._event_seq + 1) % 256
        self._queue(encode_frame(self._event_seq, FrameType.EVENT, json.dumps(payload).encode()), delay_s)

    def push_bytes(self, data: bytes, *, delay_s: float = LATENCY_S) -> None:
        self._queue(data, delay_s)

    # --- Transport ----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.closed:
            raise TransportError("closed", port=self.url)
        self.writes.append(data)
        fault = self.faults.popleft() if self.faults else None
        if fault == "lose_request":
            return
        try:
            frame = decode_frame(data)
        except FrameError:
            return
        if fault == "nak":
            self._queue(encode_frame(frame.seq, FrameType.NAK), LATENCY_S)
            return
        if self._cache is not None and self._cache[:2] == (frame.seq, frame.payload):
            response = self._cache[2]  # a retransmission: answered from the cache, not executed
        else:
            request = json.loads(frame.payload)
            self.executed.append((request["cmd"], request["args"]))
            handler = self.handlers.get(request["cmd"], _unknown_command)
            response = encode_frame(frame.seq, FrameType.RESPONSE, json.dumps(handler(request["args"])).encode())
            self._cache = (frame.seq, frame.payload, response)
        self._deliver(frame.seq, response, fault)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if self.closed:
            raise TransportError("closed", port=self.url)
        if not self._due():
            upcoming = min((t for t, _ in self._outbox), default=None)
            now_s = self.clock.monotonic()
            wait_s = timeout_s if upcoming is None else min(timeout_s, max(upcoming - now_s, 0.0))
            self.clock.advance(wait_s)
        data = b""
        while self._outbox and self._due() and len(data) < max_bytes:
            at_s, chunk = self._outbox.pop(0)
            room = max_bytes - len(data)
            data += chunk[:room]
            if len(chunk) > room:
                self._outbox.insert(0, (at_s, chunk[room:]))
        return data

    def close(self) -> None:
        self.closed = True

    # --- internals ----------------------------------------------------------------------------

    def _due(self) -> bool:
        return bool(self._outbox) and self._outbox[0][0] <= self.clock.monotonic() + 1e-9

    def _queue(self, data: bytes, delay_s: float) -> None:
        self._outbox.append((self.clock.monotonic() + delay_s, data))
        self._outbox.sort(key=lambda item: item[0])

    def _deliver(self, seq: int, response: bytes, fault: Fault | None) -> None:
        if fault == "drop_response":
            return
        if fault == "corrupt_response":
            broken = bytearray(response)
            broken[8] ^= 0x20
            response = bytes(broken)
        elif fault == "stale_first":
            self._queue(encode_frame((seq - 1) % 256, FrameType.RESPONSE, b'{"ok":true,"result":{}}'), 0.005)
        elif fault == "event_first":
            self._queue(encode_frame(seq, FrameType.EVENT, b'{"event":"LINK_RESTORED"}'), 0.005)
        elif fault == "trickle":
            for i in range(len(response)):
                self._queue(response[i : i + 1], LATENCY_S + 0.05 * i)
            return
        elif fault == "stall":
            half = len(response) // 2
            self._queue(response[:half], LATENCY_S)
            self._queue(response[half:], LATENCY_S + 0.3)
            return
        self._queue(response, 1.5 if fault == "late_response" else LATENCY_S)

    def _logged(self, kind: str, args: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        self.add_log(kind, {"request_id": args.get("request_id")})
        return ok(result)

    def _refill(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._logged(
            "REFILLED", args, {"reservoir": args["reservoir_after"], "low_reservoir_date": "2026-12-20T00:00:00Z"}
        )

    def _rx_write(self, args: dict[str, Any]) -> dict[str, Any]:
        if args["expect"] != self.rx_id:
            return error("CONFLICT", f"current rx_id is {self.rx_id}")
        self.rx_id = f"rx{len(self.log)}"
        return self._logged("RX_CHANGED", args, {"rx_id": self.rx_id, "prescription": args["prescription"]})

    def _log_read(self, args: dict[str, Any]) -> dict[str, Any]:
        start = max(args["from"], self.log_first)
        entries = [e for e in self.log if start <= e["index"] < start + args["max"]]
        while True:  # a page may hold fewer than "max" entries: the payload must fit in 4096 bytes
            next_index = entries[-1]["index"] + 1 if entries else max(start, self.log_next)
            page = ok({"entries": entries, "next": next_index, "more": next_index < self.log_next})
            if len(json.dumps(page)) <= 4096:
                return page
            entries = entries[: len(entries) // 2]
