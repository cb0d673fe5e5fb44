"""Session: resends of the same bytes, NAKs, stale responses, events, counters and traces."""

import io
import json
from typing import Any

import pytest

from drivers.client import ProgrammerClient
from drivers.commands import hello_request, status_request
from drivers.errors import DeviceTimeoutError, NakError, ProtocolError
from drivers.framing import Frame, FrameType, decode_frame, encode_frame
from drivers.logio import FrameTraceWriter
from drivers.session import Direction, FrameRecord, Session, TraceRecord
from schemas.programmer import ProgrammerEvent
from tests.drivers.peer import Fault, ScriptedPeer
from tests.support import FixedClock


def _session(peer: ScriptedPeer, clock: FixedClock, **kwargs: Any) -> Session:
    return Session(peer, clock=clock, initial_seq=kwargs.pop("initial_seq", 40), **kwargs)


def test_exchange_returns_the_response_with_the_request_seq(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    reply = session.exchange(hello_request())
    assert reply.seq == 40
    assert reply.attempts == 1
    assert reply.response.ok
    assert reply.response.result["protocol"] == 1
    assert decode_frame(peer.writes[0]) == Frame(40, FrameType.REQUEST, b'{"cmd":"HELLO","args":{}}')


def test_seq_increments_and_wraps_modulo_256(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock, initial_seq=254)
    seqs = [session.exchange(status_request()).seq for _ in range(3)]
    assert seqs == [254, 255, 0]


def test_initial_seq_is_random_by_default(peer: ScriptedPeer, clock: FixedClock) -> None:
    seqs = {Session(peer, clock=clock).next_seq for _ in range(40)}
    assert all(0 <= s <= 255 for s in seqs)
    assert len(seqs) > 1


@pytest.mark.parametrize("fault", ["drop_response", "lose_request", "corrupt_response", "stall"])
def test_timeout_resends_the_same_bytes(peer: ScriptedPeer, clock: FixedClock, fault: Fault) -> None:
    session = _session(peer, clock)
    peer.faults.extend([fault])
    reply = session.exchange(status_request())
    assert reply.attempts == 2
    assert peer.writes[0] == peer.writes[1]
    assert [cmd for cmd, _ in peer.executed] == ["STATUS"]
    assert session.counters.timeouts == 1
    assert session.counters.resends == 1
    assert 1.0 <= clock.monotonic() < 1.2  # one full timeout, then the cached answer


def test_a_resent_request_is_answered_from_the_cache_not_executed_twice(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.faults.extend(["drop_response", "drop_response"])
    session.exchange(status_request())
    assert len(peer.writes) == 3
    assert len(peer.executed) == 1


def test_corrupt_response_is_counted_as_crc_error(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.faults.append("corrupt_response")
    session.exchange(status_request())
    assert session.counters.crc_errors == 1


def test_stalled_response_is_counted_as_inter_byte_timeout(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.faults.append("stall")
    assert session.exchange(status_request()).attempts == 2
    assert session.counters.inter_byte_timeouts >= 1


def test_a_trickled_response_within_the_inter_byte_timeout_is_accepted(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock, timeouts_s={"HELLO": 30.0})
    peer.faults.append("trickle")
    assert session.exchange(hello_request()).attempts == 1
    assert session.counters.inter_byte_timeouts == 0


def test_nak_for_the_outstanding_seq_resends_at_once(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.faults.append("nak")
    reply = session.exchange(status_request())
    assert reply.attempts == 2
    assert peer.writes[0] == peer.writes[1]
    assert session.counters.naks == 1
    assert session.counters.timeouts == 0
    assert clock.monotonic() < 0.1  # no waiting for a timeout


def test_nak_for_another_seq_is_ignored(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.push_bytes(encode_frame(3, FrameType.NAK), delay_s=0.0)
    assert session.exchange(status_request()).attempts == 1
    assert session.counters.naks == 1


def test_at_most_three_resends_then_device_timeout(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    faults: list[Fault | None] = ["lose_request"] * 4
    peer.faults.extend([*faults, None])
    with pytest.raises(DeviceTimeoutError) as caught:
        session.exchange(status_request())
    assert len(peer.writes) == 4
    assert len(set(peer.writes)) == 1
    assert caught.value.seq == 40
    assert caught.value.command == "STATUS"
    assert "after 4 attempts" in (caught.value.__notes__ or [])
    assert clock.monotonic() == pytest.approx(4.0)
    assert session.counters.failed_exchanges == 1
    assert session.counters.resends == 3
    assert session.exchange(status_request()).seq == 41  # the next request gets a new SEQ


def test_every_attempt_naked_is_a_nak_error(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock, retries=2)
    peer.faults.extend(["nak"] * 3)
    with pytest.raises(NakError):
        session.exchange(status_request())
    assert len(peer.writes) == 3


def test_link_timeouts_are_per_command(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock, retries=0)
    assert (session.timeout_for("LINK"), session.timeout_for("LOG_READ"), session.timeout_for("STATUS")) == (
        12.0,
        3.0,
        1.0,
    )
    peer.faults.append("lose_request")
    with pytest.raises(DeviceTimeoutError):
        session.exchange(hello_request())
    assert clock.monotonic() == pytest.approx(1.0)


def test_stale_response_is_discarded_and_counted(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.faults.append("stale_first")
    reply = session.exchange(hello_request())
    assert "programmer" in reply.response.result
    assert session.counters.stale_responses == 1


def test_a_late_duplicate_is_stale_in_the_next_exchange(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.faults.append("late_response")
    assert session.exchange(hello_request()).attempts == 2  # resent at 1.0 s, cached answer at 1.02 s
    clock.advance(1.0)
    reply = session.exchange(status_request())
    assert reply.seq == 41
    assert "pump" in reply.response.result
    assert session.counters.stale_responses == 1


def test_events_go_to_listeners_and_are_never_a_response(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    events: list[Frame] = []
    session.add_event_listener(events.append)
    peer.faults.append("event_first")  # an EVENT that carries the request's own SEQ
    reply = session.exchange(hello_request())
    assert "programmer" in reply.response.result
    assert [(e.seq, e.json_object()) for e in events] == [(40, {"event": "LINK_RESTORED"})]
    assert session.counters.events == 1


def test_poll_delivers_events_between_exchanges(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    events: list[ProgrammerEvent] = []
    client.add_event_listener(events.append)
    peer.push_event({"event": "ALARM", "code": "LOW_RESERVOIR", "time": "2026-11-02T09:00:00+01:00"})
    peer.push_event({"event": "BATTERY", "state": "ERI"}, delay_s=0.3)
    assert client.poll_events(1.0) == 2
    assert events[0].kind == "ALARM"
    assert events[0].alarm_code == "LOW_RESERVOIR"
    assert events[0].occurred_at is not None
    assert events[0].occurred_at.hour == 8
    assert events[1].battery_state == "ERI"


def test_a_malformed_event_is_dropped_without_breaking_the_exchange(
    client: ProgrammerClient, peer: ScriptedPeer
) -> None:
    events: list[ProgrammerEvent] = []
    client.add_event_listener(events.append)
    peer.push_event({"no_event_key": True}, delay_s=0.0)
    assert client.hello().serial == "PG-0042"
    assert events == []


def test_a_failing_listener_does_not_abort_the_exchange(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)

    def broken(record: TraceRecord) -> None:
        raise RuntimeError("disk full")

    session.add_frame_listener(broken)

    def exploding(frame: Frame) -> None:
        raise ZeroDivisionError

    session.add_event_listener(exploding)
    peer.faults.append("event_first")
    assert session.exchange(hello_request()).response.ok


def test_unexpected_request_frames_are_counted(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.push_bytes(encode_frame(40, FrameType.REQUEST, b'{"cmd":"HELLO","args":{}}'), delay_s=0.0)
    assert session.exchange(hello_request()).response.ok
    assert session.counters.unexpected_frames == 1


def test_a_response_that_is_no_envelope_is_a_protocol_error(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    peer.handlers["HELLO"] = lambda args: {"result": {}}
    with pytest.raises(ProtocolError, match="'ok'"):
        session.exchange(hello_request())


def test_counters_and_trace_record_every_frame(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    stream = io.StringIO()
    records: list[TraceRecord] = []
    session.add_frame_listener(FrameTraceWriter(stream))
    session.add_frame_listener(records.append)
    peer.faults.extend(["corrupt_response", None])
    session.exchange(hello_request())
    counters = session.counters.snapshot()
    assert (counters.frames_sent, counters.frames_received, counters.crc_errors, counters.resends) == (2, 1, 1, 1)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["dir"], line.get("type"), line.get("discard")) for line in lines] == [
        ("tx", "REQUEST", None),
        ("rx", None, "crc_mismatch"),
        ("tx", "REQUEST", None),
        ("rx", "RESPONSE", None),
    ]
    assert lines[0]["payload"] == {"cmd": "HELLO", "args": {}}
    assert lines[2]["attempt"] == 1
    assert lines[1]["seq"] == 40
    assert all(isinstance(line["t_s"], float) for line in lines)
    tx = [r for r in records if isinstance(r, FrameRecord) and r.direction is Direction.TX]
    assert tx[0].raw == tx[1].raw == peer.writes[0]


def test_hex_trace_writes_the_exact_bytes(peer: ScriptedPeer, clock: FixedClock) -> None:
    session = _session(peer, clock)
    stream = io.StringIO()
    session.add_frame_listener(FrameTraceWriter(stream, payload="hex"))
    session.exchange(hello_request())
    first = json.loads(stream.getvalue().splitlines()[0])
    assert bytes.fromhex(first["hex"]) == peer.writes[0]
    assert first["len"] == 25


def test_session_refuses_bad_settings(peer: ScriptedPeer) -> None:
    with pytest.raises(ValueError, match="retries"):
        Session(peer, retries=-1)
    with pytest.raises(ValueError, match="initial_seq"):
        Session(peer, initial_seq=256)
    with pytest.raises(ValueError, match="positive"):
        Session(peer, timeouts_s={"LINK": 0})
