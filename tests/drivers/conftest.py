"""Driver fixtures: a scripted programmer (test double) on a fixed clock, and a client on it."""

import itertools
from collections.abc import Iterator

import pytest

from drivers.client import ProgrammerClient
from tests.drivers.peer import ScriptedPeer
from tests.support import FixedClock


@pytest.fixture
def peer(clock: FixedClock) -> ScriptedPeer:
    return ScriptedPeer(clock)


@pytest.fixture
def client(peer: ScriptedPeer, clock: FixedClock) -> Iterator[ProgrammerClient]:
    ids = (f"req-{n}" for n in itertools.count(1))
    client = ProgrammerClient(peer, clock=clock, initial_seq=10, request_ids=lambda: next(ids))
    yield client
    client.close()
