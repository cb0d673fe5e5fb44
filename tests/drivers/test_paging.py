"""Adaptive LOG_READ pages: the policy alone, then the client against the scripted programmer."""

import json
from typing import Any

import pytest

from drivers.client import ProgrammerClient
from drivers.errors import DeviceTimeoutError, OutOfRangeError
from drivers.framing import decode_frame
from drivers.paging import FLOOR_FAILURES, AdaptivePageSize, PageOutcome
from tests.drivers.peer import Fault, ScriptedPeer, error
from tests.support import FixedClock

FAILED_EXCHANGE: list[Fault | None] = ["corrupt_response"] * 4  # heard, but never readable


def _sent(peer: ScriptedPeer) -> list[tuple[int, dict[str, Any]]]:
    """(SEQ, args) of every LOG_READ frame the host wrote, resends included."""
    frames = [decode_frame(w) for w in peer.writes]
    return [(f.seq, json.loads(f.payload)["args"]) for f in frames if json.loads(f.payload)["cmd"] == "LOG_READ"]


def _log(peer: ScriptedPeer, entries: int) -> None:
    for i in range(entries):
        peer.add_log("CLOCK_SET", {"request_id": f"c-{i}"})


def test_policy_halves_after_a_failed_or_resent_page_down_to_the_floor() -> None:
    sizes = AdaptivePageSize(ceiling=64, floor=4, grow_after=2)
    observed = []
    for outcome in [PageOutcome.FAILED, PageOutcome.RESENT, PageOutcome.FAILED, PageOutcome.FAILED, PageOutcome.FAILED]:
        sizes.record(outcome)
        observed.append(sizes.size)
    assert observed == [32, 16, 8, 4, 4]
    assert sizes.at_floor
    assert (sizes.counters.failed_pages, sizes.counters.resent_pages, sizes.counters.shrinks) == (4, 1, 4)


def test_policy_doubles_after_a_run_of_clean_pages_up_to_the_ceiling() -> None:
    sizes = AdaptivePageSize(ceiling=16, floor=2, grow_after=2)
    for _ in range(3):
        sizes.record(PageOutcome.FAILED)
    assert sizes.size == 2
    observed = []
    for outcome in [PageOutcome.CLEAN, PageOutcome.CLEAN, PageOutcome.CLEAN, PageOutcome.RESENT, PageOutcome.CLEAN]:
        sizes.record(outcome)
        observed.append(sizes.size)
    # two clean pages double it; a resent page halves it and restarts the run
    assert observed == [2, 4, 4, 2, 2]
    for _ in range(10):
        sizes.record(PageOutcome.CLEAN)
    assert sizes.size == 16


@pytest.mark.parametrize(("floor", "ceiling", "grow_after"), [(0, 64, 4), (8, 4, 4), (2, 65, 4), (2, 64, 0)])
def test_policy_refuses_sizes_outside_the_protocol(floor: int, ceiling: int, grow_after: int) -> None:
    with pytest.raises(ValueError, match="must"):
        AdaptivePageSize(ceiling=ceiling, floor=floor, grow_after=grow_after)


def test_a_failed_page_is_asked_for_again_smaller_under_a_new_seq(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    _log(peer, 40)
    peer.faults.extend(FAILED_EXCHANGE)
    log = client.read_log(0)
    assert [e.index for e in log.entries] == list(range(40))
    sent = _sent(peer)
    # the first request is sent four times with the same SEQ and the same max (HPP/1 §3) ...
    assert {(seq, args["max"]) for seq, args in sent[:4]} == {(sent[0][0], 64)}
    # ... then a new request, a new SEQ, half the page, from the same index
    assert sent[4][1] == {"from": 0, "max": 32}
    assert sent[4][0] == (sent[0][0] + 1) % 256
    assert client.log_page_size.counters.failed_pages == 1


def test_a_resent_page_halves_the_next_one_and_clean_pages_grow_it_back(peer: ScriptedPeer, clock: FixedClock) -> None:
    _log(peer, 30)
    client = ProgrammerClient(peer, clock=clock, initial_seq=0, log_pages=AdaptivePageSize(ceiling=8, grow_after=2))
    peer.faults.append("corrupt_response")  # the first page needs one resend
    log = client.read_log(0)
    assert [e.index for e in log.entries] == list(range(30))
    sent = _sent(peer)
    firsts = [args for i, (seq, args) in enumerate(sent) if i == 0 or seq != sent[i - 1][0]]
    assert [args["max"] for args in firsts] == [8, 4, 4, 8, 8]
    assert [args["from"] for args in firsts] == [0, 8, 12, 16, 24]


def test_a_silent_programmer_fails_the_read_at_once(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    _log(peer, 10)
    peer.faults.extend(["drop_response"] * 4)
    with pytest.raises(DeviceTimeoutError) as caught:
        client.read_log(0)
    assert len(_sent(peer)) == 4  # one request, its three resends, no smaller retry: nobody is there
    assert "resume from there" in "\n".join(caught.value.__notes__)


def test_the_read_gives_up_after_repeated_failures_at_the_floor(peer: ScriptedPeer, clock: FixedClock) -> None:
    _log(peer, 10)
    client = ProgrammerClient(peer, clock=clock, log_pages=AdaptivePageSize(ceiling=4, floor=2))
    peer.faults.extend(FAILED_EXCHANGE * (1 + FLOOR_FAILURES))
    with pytest.raises(DeviceTimeoutError) as caught:
        client.read_log(0)
    assert [args["max"] for _, args in _sent(peer)] == [4] * 4 + [2] * 4 * FLOOR_FAILURES
    assert "stopped at index 0" in "\n".join(caught.value.__notes__)


def test_pages_already_yielded_stay_valid_when_a_later_page_fails(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    _log(peer, 100)
    pages = client.read_log_pages(0)
    first = next(pages)
    peer.faults.extend(["drop_response"] * 4)
    with pytest.raises(DeviceTimeoutError):
        next(pages)
    assert first.entries[0].index == 0
    assert _sent(peer)[-1][1]["from"] == first.next_index  # the failed page was the one after it


def test_a_refusal_is_not_retried(client: ProgrammerClient, peer: ScriptedPeer) -> None:
    peer.handlers["LOG_READ"] = lambda _: error("OUT_OF_RANGE", "from is past the log")
    with pytest.raises(OutOfRangeError):
        client.read_log(5)
    assert len(_sent(peer)) == 1
