"""Reads asked again under a new SEQ on a noisy line; never a state-changing command, never a silent line."""

import json

import pytest

from drivers.client import ProgrammerClient
from drivers.commands import refill_request
from drivers.errors import NakError, OutcomeUnknownError
from drivers.framing import decode_frame
from drivers.reread import READ_AGAIN, exchange_read
from drivers.session import Session
from schemas.status import DrugInPump
from tests.drivers.peer import Fault, ScriptedPeer
from tests.support import FixedClock


def _seqs(peer: ScriptedPeer) -> list[tuple[int, str]]:
    return [(f.seq, json.loads(f.payload)["cmd"]) for f in map(decode_frame, peer.writes)]


def test_a_status_lost_to_noise_is_asked_again_under_a_new_seq(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.faults.extend(["nak"] * 4)
    status = client.status()
    assert status.serial == "SM2-00417"
    sent = _seqs(peer)
    assert len(sent) == 5
    assert {seq for seq, _ in sent[:4]} == {sent[0][0]}  # the four attempts of the first exchange: same bytes
    assert sent[4] == ((sent[0][0] + 1) % 256, "STATUS")


def test_a_read_is_asked_again_a_bounded_number_of_times(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    nak: Fault | None = "nak"
    peer.faults.extend([nak] * 4 * (1 + READ_AGAIN))
    with pytest.raises(NakError) as caught:
        client.status()
    assert len(peer.writes) == 4 * (1 + READ_AGAIN)
    assert "new SEQs" in "\n".join(caught.value.__notes__)


def test_a_silent_programmer_is_not_asked_again(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.faults.extend(["drop_response"] * 4)
    with pytest.raises(TimeoutError):
        client.status()
    assert len(peer.writes) == 4


def test_a_state_changing_command_is_never_asked_again(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    script: list[Fault | None] = [None, "nak", "nak", "nak", "nak"]  # STATUS answered, every REFILL attempt NAKed
    peer.faults.extend(script)
    with pytest.raises(OutcomeUnknownError):
        client.refill(
            volume_removed_ml=1.0,
            volume_added_ml=10.0,
            drug=DrugInPump(name="baclofen", conc_mg_per_ml=2.0),
            reservoir_after_ml=18.0,
        )
    refills = [seq for seq, cmd in _seqs(peer) if cmd == "REFILL"]
    assert len(refills) == 4
    assert len(set(refills)) == 1


def test_exchange_read_refuses_a_write(peer: ScriptedPeer, clock: FixedClock) -> None:
    request = refill_request(
        volume_removed_ml=1.0,
        volume_added_ml=10.0,
        drug=DrugInPump(name="baclofen"),
        reservoir_after_ml=18.0,
        request_id="r-1",
    )
    with pytest.raises(ValueError, match="not a read"):
        exchange_read(Session(peer, clock=clock), request)
    assert peer.writes == []


def test_a_line_that_only_returns_broken_bytes_counts_as_heard(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    stall: Fault | None = "stall"  # each response halts halfway: never a frame, yet the programmer is there
    peer.faults.extend([stall] * 4)
    assert client.status().serial == "SM2-00417"
    assert len(peer.writes) == 5
    assert client.counters.bytes_received > 0
