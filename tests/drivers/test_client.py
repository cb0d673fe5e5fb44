"""ProgrammerClient: commands, error mapping, and the unknown-outcome / reconciliation rule."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drivers.client import ProgrammerClient
from drivers.errors import (
    PROGRAMMER_ERRORS,
    ConflictError,
    NoTelemetryError,
    NotLinkedError,
    OutcomeUnknownError,
    OutOfRangeError,
    ProgrammerError,
    ProtocolError,
    ReconciliationError,
    ReconciliationRequiredError,
    TransportError,
)
from drivers.framing import decode_frame
from schemas.prescription import ContinuousPrescription, StoppedPrescription
from schemas.programmer import BolusKind, PendingWrite
from schemas.status import AlarmCode, DrugInPump
from tests.drivers.peer import SERIAL, Fault, ScriptedPeer, error, ok, status_result
from tests.support import T0, FixedClock

BACLOFEN = DrugInPump(name="baclofen", conc_mg_per_ml=2.0)
ALL_LOST: list[Fault | None] = ["drop_response"] * 4


def _refill(client: ProgrammerClient, **kwargs: Any) -> Any:
    return client.refill(volume_removed_ml=3.2, volume_added_ml=18.0, drug=BACLOFEN, reservoir_after_ml=18.0, **kwargs)


def _last_args(peer: ScriptedPeer) -> dict[str, Any]:
    args: dict[str, Any] = json.loads(decode_frame(peer.writes[-1]).payload)["args"]
    return args


def test_hello_link_unlink(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    info = client.hello()
    assert (info.model, info.serial, info.firmware, info.protocol_version, info.max_payload_bytes) == (
        "HP-1",
        "PG-0042",
        "1.4.2",
        1,
        4096,
    )
    pump = client.link(SERIAL)
    assert (pump.serial, pump.capacity_ml) == (SERIAL, 20.0)
    assert client.linked_pump == pump
    assert _last_args(peer) == {"pump_serial": SERIAL}
    client.link()
    assert _last_args(peer) == {}
    client.unlink()
    assert client.linked_pump is None


def test_hello_refuses_another_protocol_version(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["HELLO"] = lambda a: ok(
        {"programmer": {"model": "m", "serial": "s", "firmware": "f"}, "protocol": 2, "max_payload": 4096}
    )
    with pytest.raises(ProtocolError, match="protocol 2"):
        client.hello()


def test_link_to_the_wrong_pump_is_an_error(client: ProgrammerClient) -> None:
    with pytest.raises(ProtocolError, match="asked to link OTHER-1"):
        client.link("OTHER-1")
    assert client.linked_pump is None


def test_constant_flow_pump_has_no_telemetry(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["LINK"] = lambda a: error("NO_TELEMETRY", "constant-flow pump")
    with pytest.raises(NoTelemetryError) as caught:
        client.link("HAI-9")
    assert caught.value.code == "NO_TELEMETRY"


@pytest.mark.parametrize("code", sorted(PROGRAMMER_ERRORS))
def test_every_error_code_maps_to_its_exception(client: ProgrammerClient, peer: ScriptedPeer, code: str) -> None:
    peer.handlers["STATUS"] = lambda a: error(code, "no")
    with pytest.raises(PROGRAMMER_ERRORS[code]) as caught:
        client.status()
    assert caught.value.code == code
    assert caught.value.command == "STATUS"


def test_status_unit_mismatch_in_the_reply_is_rejected(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["STATUS"] = lambda a: ok(status_result(low_reservoir_alarm="2 mL/d"))
    with pytest.raises(ProtocolError, match=r"low_reservoir_alarm.*\[volume\]"):
        client.status()


def test_read_log_pages_until_more_is_false(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    for i in range(150):
        peer.add_log("ALARM_RAISED" if i % 2 else "RESET", {"i": i})
    read = client.read_log(0)
    assert [e.index for e in read.entries] == list(range(150))
    assert (read.next_index, read.more, read.skipped_entries) == (150, False, 0)
    froms = [args["from"] for cmd, args in peer.executed if cmd == "LOG_READ"]
    assert froms[0] == 0
    assert len(froms) >= 3  # 64 entries do not fit in 4096 bytes: the programmer sends fewer, more=true
    assert froms == sorted(set(froms))


def test_read_log_is_resumable(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    for _ in range(30):
        peer.add_log("RESET")
    first = client.read_log(0, page_size=8, limit=20)
    assert (len(first.entries), first.next_index, first.more) == (20, 20, True)
    rest = client.read_log(first.next_index, page_size=8)
    assert [e.index for e in rest.entries] == list(range(20, 30))
    assert not rest.more
    pages = list(client.read_log_pages(25, page_size=2))
    assert [p.next_index for p in pages] == [27, 29, 30]


def test_read_log_reports_entries_that_left_the_window(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    for _ in range(10):
        peer.add_log("RESET")
    peer.log = peer.log[4:]
    peer.log_first = 4
    read = client.read_log(1)
    assert read.skipped_entries == 3
    assert read.entries[0].index == 4


def test_refill_sends_a_request_id_and_returns_canonical_floats(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    done = _refill(client)
    assert done.request_id == "req-1"
    assert done.reservoir_ml == 18.0
    assert done.low_reservoir_at == datetime(2026, 12, 20, tzinfo=UTC)
    assert peer.commands() == ["STATUS", "REFILL"]
    assert _last_args(peer)["request_id"] == "req-1"
    assert peer.log[-1]["data"]["request_id"] == "req-1"


def test_given_request_id_is_used_and_checked(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    assert _refill(client, request_id="nurse-7-refill-1").request_id == "nurse-7-refill-1"
    with pytest.raises(ValueError, match="request_id"):
        _refill(client, request_id="bad id")
    assert peer.commands() == ["STATUS", "REFILL"]


def test_default_request_ids_are_unique(peer: ScriptedPeer, clock: FixedClock) -> None:
    client = ProgrammerClient(peer, clock=clock)
    ids = {_refill(client).request_id for _ in range(3)}
    assert len(ids) == 3


def test_a_refusal_is_final_and_blocks_nothing(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["REFILL"] = lambda a: error("OUT_OF_RANGE", "volume_added above capacity")
    with pytest.raises(OutOfRangeError):
        _refill(client)
    assert client.pending_writes == ()
    peer.handlers["REFILL"] = lambda a: ok({"reservoir": "18 mL", "low_reservoir_date": None})
    assert _refill(client).low_reservoir_at is None


def test_a_refill_without_response_is_outcome_unknown(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.faults.extend([None, *ALL_LOST])  # STATUS answered, every REFILL response lost
    with pytest.raises(OutcomeUnknownError) as caught:
        _refill(client)
    assert (caught.value.command, caught.value.request_id, caught.value.pump_serial) == ("REFILL", "req-1", SERIAL)
    assert caught.value.pending.log_from_index == 0
    assert T0 <= caught.value.pending.sent_at < T0 + timedelta(seconds=1)
    assert peer.commands() == ["STATUS"] + ["REFILL"] * 4
    assert [cmd for cmd, _ in peer.executed].count("REFILL") == 1  # the resends hit the cache


def test_unknown_outcome_blocks_writes_until_reconciled_landed(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.add_log("RESET")
    peer.faults.extend([None, *ALL_LOST])
    with pytest.raises(OutcomeUnknownError):
        _refill(client)
    sent = len(peer.writes)
    with pytest.raises(ReconciliationRequiredError) as refused:
        client.bolus(kind=BolusKind.BRIDGE, volume_ml=0.2, duration_s=600)
    assert refused.value.pending.request_id == "req-1"
    assert peer.commands()[sent:] == ["STATUS"]  # nothing state-changing went out
    assert client.status().serial == SERIAL  # reading is still allowed

    verdict = client.reconcile()
    assert verdict is not None
    assert verdict.landed
    assert verdict.entry is not None
    assert (verdict.entry.index, verdict.entry.type, verdict.entry.data["request_id"]) == (1, "REFILLED", "req-1")
    assert _last_args(peer) == {"from": 1, "max": 64}
    assert client.pending_writes == ()
    assert client.reconcile() is None
    assert client.bolus(kind=BolusKind.BRIDGE, volume_ml=0.2, duration_s=600).request_id == "req-3"


def test_reconcile_finds_a_write_that_never_landed(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    lost: list[Fault | None] = ["lose_request"] * 4
    peer.faults.extend([None, *lost])
    with pytest.raises(OutcomeUnknownError):
        _refill(client)
    assert not any(cmd == "REFILL" for cmd, _ in peer.executed)
    verdict = client.reconcile()
    assert verdict is not None
    assert not verdict.landed
    assert verdict.entry is None
    assert _refill(client).reservoir_ml == 18.0


def test_reconcile_pages_through_a_busy_log(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.faults.extend([None, *ALL_LOST])
    with pytest.raises(OutcomeUnknownError):
        client.set_clock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    for _ in range(100):
        peer.add_log("ALARM_RAISED", {"code": "LOW_RESERVOIR", "request_id": "someone-else"})
    verdict = client.reconcile()
    assert verdict is not None
    assert verdict.landed
    assert verdict.entry is not None
    assert verdict.entry.index == 0


def test_reconcile_cannot_prove_absence_after_the_window_moved(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    for _ in range(5):
        peer.add_log("RESET")
    lost: list[Fault | None] = ["lose_request"] * 4
    peer.faults.extend([None, *lost])
    with pytest.raises(OutcomeUnknownError):
        _refill(client)
    peer.log = peer.log[3:]
    peer.log_first = 8
    for _ in range(3):
        peer.add_log("RESET")
    with pytest.raises(ReconciliationError, match="cannot be proven"):
        client.reconcile()
    assert len(client.pending_writes) == 1


def test_link_lost_answer_to_a_write_is_outcome_unknown(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["BOLUS"] = lambda a: error("LINK_LOST", "telemetry dropped")
    with pytest.raises(OutcomeUnknownError, match="LINK_LOST") as caught:
        client.bolus(kind=BolusKind.PRIMING, volume_ml=0.5, duration_s=300)
    assert isinstance(caught.value.__cause__, ProgrammerError)


def test_an_unverifiable_success_is_outcome_unknown(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["REFILL"] = lambda a: ok({"reservoir": "18 mg", "low_reservoir_date": "2026-12-20T00:00:00Z"})
    with pytest.raises(OutcomeUnknownError, match=r"not verifiable.*\[volume\]"):
        _refill(client)
    assert client.pending_writes[0].reason.startswith("success reported but not verifiable")


def test_a_port_failure_during_a_write_is_outcome_unknown(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    original = peer.write

    def write_then_fail(data: bytes) -> None:
        original(data)
        if peer.commands()[-1] == "REFILL":
            raise TransportError("unplugged", port=peer.url)

    peer.write = write_then_fail  # type: ignore[method-assign]
    with pytest.raises(OutcomeUnknownError) as caught:
        _refill(client)
    assert isinstance(caught.value.__cause__, TransportError)


def test_pending_writes_survive_a_new_client(peer: ScriptedPeer, clock: FixedClock) -> None:
    pending = PendingWrite(
        command="RX_WRITE", request_id="old-1", pump_serial=SERIAL, log_from_index=0, sent_at=T0, reason="timeout"
    )
    client = ProgrammerClient(peer, clock=clock, pending=[pending])
    with pytest.raises(ReconciliationRequiredError):
        client.write_prescription(StoppedPrescription(), expect="a91f")
    verdict = client.reconcile()
    assert verdict is not None
    assert not verdict.landed


def test_other_pumps_are_not_blocked(peer: ScriptedPeer, clock: FixedClock) -> None:
    pending = PendingWrite(
        command="REFILL", request_id="x", pump_serial="OTHER-1", log_from_index=0, sent_at=T0, reason="timeout"
    )
    client = ProgrammerClient(peer, clock=clock, pending=[pending])
    assert _refill(client).reservoir_ml == 18.0
    assert client.reconcile() is None  # the linked pump has nothing pending


def test_write_prescription_verifies_the_echo(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    written = client.write_prescription(ContinuousPrescription(rate_ml_per_day=0.3), expect="a91f")
    assert written.rx_id == peer.rx_id
    assert written.prescription == ContinuousPrescription(rx_id=peer.rx_id, rate_ml_per_day=0.3)
    assert _last_args(peer)["prescription"] == {"mode": "continuous", "rate": "0.3 mL/d"}
    assert _last_args(peer)["expect"] == "a91f"


def test_write_prescription_conflict(client: ProgrammerClient) -> None:
    with pytest.raises(ConflictError):
        client.write_prescription(StoppedPrescription(), expect="stale-rx")
    assert client.pending_writes == ()


def test_write_prescription_echo_mismatch_is_outcome_unknown(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["RX_WRITE"] = lambda a: ok({"rx_id": "r2", "prescription": {"mode": "continuous", "rate": "3 mL/d"}})
    with pytest.raises(OutcomeUnknownError, match="echoed"):
        client.write_prescription(ContinuousPrescription(rate_ml_per_day=0.3), expect="a91f")


def test_bolus_clock_and_alarm_ack(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    bolus = client.bolus(kind=BolusKind.BRIDGE, volume_ml=0.2, duration_s=1800, request_id="b-1")
    assert (bolus.kind, bolus.volume_ml, bolus.duration_s, bolus.request_id) == (BolusKind.BRIDGE, 0.2, 1800.0, "b-1")
    assert bolus.started_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    result = client.set_clock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    assert (result.time_at - result.previous_at).total_seconds() == 30
    with pytest.raises(ValueError, match="naive"):
        client.set_clock(datetime(2026, 11, 2, 9, 0))  # noqa: DTZ001
    client.ack_alarm(AlarmCode.LOW_RESERVOIR)
    assert _last_args(peer) == {"code": "LOW_RESERVOIR"}


def test_a_status_failure_before_a_write_sends_nothing(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["STATUS"] = lambda a: error("NOT_LINKED", "link first")
    with pytest.raises(NotLinkedError):
        _refill(client)
    assert peer.commands() == ["STATUS"]
    assert client.pending_writes == ()


def test_client_exposes_the_link_counters(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.faults.extend(["nak", None, "drop_response"])
    _refill(client)
    counters = client.counters
    assert (counters.naks, counters.timeouts, counters.resends, counters.exchanges) == (1, 1, 2, 2)
