"""The simulated programmer against the real driver (in process, virtual time)."""

import json
from collections.abc import Mapping
from datetime import timedelta

import pytest

from drivers import (
    ConflictError,
    FrameType,
    NotLinkedError,
    OutcomeUnknownError,
    ProgrammerClient,
    ReconciliationRequiredError,
    decode_frame,
    encode_frame,
)
from drivers.errors import NoTelemetryError, OutOfRangeError, ProgrammerError
from schemas.device_log import LogEntryType
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump
from simulators.clock import ManualClock
from simulators.link_faults import LinkFaultPlan
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.transport import SimulatorTransport
from tests.support import T0

BACLOFEN = DrugInPump(name="baclofen", conc_mg_per_ml=2.0)


class Bench:
    """A programmer with one pump, the driver on an in-process link, one manual clock."""

    def __init__(self, faults: LinkFaultPlan | None = None, volume_ml: float = 12.0) -> None:
        self.clock = ManualClock(T0)
        self.pump = SimulatedProgrammablePump(
            get_pump_model("programmable-20"),
            clock=self.clock,
            serial="SM-1",
            accuracy_factor=1.0,
            volume_ml=volume_ml,
            prescription=ContinuousPrescription(rate_ml_per_day=0.5),
            drug=BACLOFEN,
        )
        self.programmer = SimulatedProgrammer(
            [self.pump], clock=self.clock, constant_flow_serials=("HAI-9",), faults=faults
        )
        self.transport = SimulatorTransport("sim://test", clock=self.clock, programmer=self.programmer)
        self.client = ProgrammerClient(self.transport, clock=self.clock, initial_seq=0)

    def raw(self, seq: int, payload: Mapping[str, object]) -> list[bytes]:
        """Send one request frame by hand; the frames that come back."""
        self.transport.write(encode_frame(seq, FrameType.REQUEST, json.dumps(payload).encode()))
        self.clock.advance(1.0)
        data = self.transport.read(65536, 0.0)
        frames, rest = [], data
        while rest:
            length = 8 + int.from_bytes(rest[4:6], "big")
            frames.append(rest[:length])
            rest = rest[length:]
        return frames


@pytest.fixture
def bench() -> Bench:
    return Bench()


def test_interrogate_refill_and_reprogram_through_the_real_driver(bench: Bench) -> None:
    client = bench.client
    assert client.hello().protocol_version == 1
    assert client.link().serial == "SM-1"
    status = client.status()
    assert status.reservoir_ml == pytest.approx(12.0, abs=1e-4)
    assert status.prescription is not None
    bench.clock.advance(timedelta(days=21))  # 12 mL at 0.5 mL/d: the 2 mL alarm on day 20
    later = client.status()
    assert [a.code.value for a in later.alarms] == ["LOW_RESERVOIR"]
    confirmation = client.refill(
        volume_removed_ml=1.5, volume_added_ml=18.5, drug=BACLOFEN, reservoir_after_ml=20.0, request_id="visit-1-refill"
    )
    assert confirmation.reservoir_ml == 20.0
    written = client.write_prescription(
        ContinuousPrescription(rate_ml_per_day=0.4), expect=status.prescription.rx_id or "", request_id="visit-1-rx"
    )
    assert client.status().prescription == written.prescription
    with pytest.raises(ConflictError):
        client.write_prescription(ContinuousPrescription(rate_ml_per_day=0.3), expect=status.prescription.rx_id or "")
    log = client.read_log(0)
    types = [e.type for e in log.entries]
    assert types == [
        LogEntryType.ALARM_RAISED,
        LogEntryType.REFILLED,
        LogEntryType.ALARM_CLEARED,
        LogEntryType.RX_CHANGED,
    ]
    assert log.entries[1].data["request_id"] == "visit-1-refill"
    assert bench.programmer.executed == [("REFILL", "visit-1-refill"), ("RX_WRITE", "visit-1-rx")]
    assert client.counters.events >= 1  # the LOW_RESERVOIR alarm was announced


def test_link_errors(bench: Bench) -> None:
    with pytest.raises(NotLinkedError):
        bench.client.status()
    with pytest.raises(NoTelemetryError):
        bench.client.link("HAI-9")
    with pytest.raises(ProgrammerError) as missing:
        bench.client.link("NOPE")
    assert missing.value.code == "NOT_FOUND"


_VOLUMES = {"volume_removed": "0 mL", "volume_added": "5 mL", "drug": {"name": "x"}, "reservoir_after": "5 mL"}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"cmd": "FLY", "args": {}}, "UNKNOWN_COMMAND"),
        ({"cmd": "STATUS", "args": []}, "BAD_REQUEST"),
        ({"cmd": "LOG_READ", "args": {"from": 0, "max": 65}}, "OUT_OF_RANGE"),
        ({"cmd": "LOG_READ", "args": {"from": "zero", "max": 5}}, "BAD_REQUEST"),
        ({"cmd": "REFILL", "args": {**_VOLUMES, "volume_removed": "5 mg"}}, "UNIT_MISMATCH"),
        ({"cmd": "REFILL", "args": {**_VOLUMES, "volume_added": "25 mL"}}, "OUT_OF_RANGE"),
        ({"cmd": "REFILL", "args": {**_VOLUMES, "request_id": "not allowed!"}}, "BAD_REQUEST"),
        (
            {"cmd": "RX_WRITE", "args": {"prescription": {"mode": "continuous", "rate": "3 mL/d"}, "expect": "?"}},
            "CONFLICT",
        ),
        ({"cmd": "RX_WRITE", "args": {"prescription": {"mode": "sometimes"}, "expect": "?"}}, "BAD_REQUEST"),
        ({"cmd": "BOLUS", "args": {"kind": "bridge", "volume": "0.5 mL", "duration": "10 kg"}}, "UNIT_MISMATCH"),
        ({"cmd": "ALARM_ACK", "args": {"code": "LOW_RESERVOIR"}}, "NOT_FOUND"),
        ({"cmd": "CLOCK_SET", "args": {"time": "2026-11-02T09:00:00"}}, "BAD_REQUEST"),
    ],
)
def test_every_error_code_where_it_applies(bench: Bench, payload: Mapping[str, object], code: str) -> None:
    bench.raw(1, {"cmd": "LINK", "args": {}})
    [frame] = bench.raw(2, payload)
    response = decode_frame(frame).json_object()
    assert response["ok"] is False
    assert response["error"]["code"] == code


def test_a_resent_refill_is_answered_from_the_cache_and_executed_once(bench: Bench) -> None:
    bench.raw(1, {"cmd": "LINK", "args": {}})
    refill = {
        "cmd": "REFILL",
        "args": {
            "volume_removed": "10 mL",
            "volume_added": "10 mL",
            "drug": {"name": "baclofen", "concentration": "2 mg/mL"},
            "reservoir_after": "20 mL",
            "request_id": "r-1",
        },
    }
    first = bench.raw(2, refill)
    again = bench.raw(2, refill)
    assert first == again
    assert bench.programmer.executed == [("REFILL", "r-1")]
    bench.raw(3, refill)  # a new SEQ is a new request (the host must never do this after a timeout)
    assert len(bench.programmer.executed) == 2


def test_a_corrupted_request_is_naked_with_its_seq(bench: Bench) -> None:
    frame = bytearray(encode_frame(7, FrameType.REQUEST, b'{"cmd":"HELLO","args":{}}'))
    frame[10] ^= 0xFF
    bench.transport.write(bytes(frame))
    nak = decode_frame(bench.transport.read(64, 1.0))
    assert (nak.type, nak.seq, nak.payload) == (FrameType.NAK, 7, b"")


def test_log_pages_fit_one_frame_and_reading_resumes_across_the_wrap(bench: Bench) -> None:
    for i in range(10_000):
        bench.pump.set_clock(bench.clock.now(), request_id=f"c-{i}")
    bench.client.link()
    log = bench.client.read_log(0)
    assert log.skipped_entries == 10_000 - 8192
    assert [e.index for e in log.entries] == list(range(10_000 - 8192, 10_000))
    assert bench.client.counters.frames_received > 8192 // 64  # pages were cut to fit 4096 bytes


def test_a_write_whose_response_is_lost_is_resent_and_answered_from_the_cache() -> None:
    bench = Bench(LinkFaultPlan(seed=1, drop_response_rate=1.0))
    bench.programmer.faults.drop_response_rate = 0.0
    bench.client.link()
    bench.programmer.faults.lose_after_write_rate = 1.0
    confirmation = bench.client.refill(
        volume_removed_ml=0, volume_added_ml=8.0, drug=BACLOFEN, reservoir_after_ml=20.0, request_id="r-lost"
    )
    assert confirmation.reservoir_ml == 20.0
    assert bench.programmer.faults.injected.lost_after_write == 1
    assert bench.client.counters.resends == 1
    assert bench.programmer.executed == [("REFILL", "r-lost")]


def test_a_restart_after_a_write_leaves_the_outcome_unknown_until_reconciled() -> None:
    bench = Bench(LinkFaultPlan(seed=1))
    client = bench.client
    client.link()
    bench.programmer.faults.restart_rate = 1.0
    with pytest.raises(OutcomeUnknownError):
        client.refill(
            volume_removed_ml=0, volume_added_ml=8.0, drug=BACLOFEN, reservoir_after_ml=20.0, request_id="r-9"
        )
    bench.programmer.faults.restart_rate = 0.0
    client.link()
    with pytest.raises(ReconciliationRequiredError):
        client.refill(volume_removed_ml=0, volume_added_ml=1.0, drug=BACLOFEN, reservoir_after_ml=20.0)
    verdict = client.reconcile()
    assert verdict is not None
    assert verdict.landed
    assert bench.programmer.executed == [("REFILL", "r-9")]  # taken once, and known to be


def test_an_out_of_range_refusal_is_final_and_changes_nothing(bench: Bench) -> None:
    bench.client.link()
    with pytest.raises(OutOfRangeError):
        bench.client.refill(volume_removed_ml=0, volume_added_ml=30.0, drug=BACLOFEN, reservoir_after_ml=20.0)
    assert bench.programmer.executed == []
    assert bench.client.pending_writes == ()
