"""The leader election on SQLite's flock: a follower retries and takes over, a leader that loses its lock stops."""

import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import func, select

from pump_service.metrics import REGISTRY
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.schedule_models import Notification
from pump_service.scheduler import RefillScheduler
from pump_service.scheduler.election import LeaderElection, LeadershipState
from pump_service.scheduler.leader import AdvisoryLeaderLock, FileLeaderLock
from pump_service.settings import Settings
from schemas.clock import SystemClock
from simulators.clock import ManualClock
from tests.scheduler.rows import BASE, clinic_of_booked_pumps

REAL = SystemClock()
FAST_S = 0.05  # retry and check intervals


def _eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll ``condition()`` in real time: the election paces itself with real waits, not the test clock."""
    started = REAL.monotonic()
    while REAL.monotonic() - started < timeout_s:
        if condition():
            return True
        REAL.sleep(0.02)
    return False


def _scheduler(engine: Engine, settings: Settings, name: str, interval_s: float) -> RefillScheduler:
    return RefillScheduler(
        engine, settings, ManualClock(BASE), interval_s=interval_s, instance_id=name,
        retry_interval_s=FAST_S, check_interval_s=FAST_S,
    )  # fmt: skip


def _lost() -> float:
    return REGISTRY.get_sample_value("pump_errors_total", {"kind": "leadership_lost"}) or 0.0


def _notifications(engine: Engine) -> int:
    with transaction(engine) as session:
        return session.exec(select(func.count()).select_from(Notification)).one()


def test_a_follower_takes_over_by_itself_when_the_leader_stops(engine: Engine, settings: Settings) -> None:
    clock = ManualClock(BASE)
    first = RefillScheduler(
        engine, settings, clock, interval_s=60, instance_id="first", retry_interval_s=FAST_S, check_interval_s=FAST_S
    )
    second = RefillScheduler(
        engine, settings, clock, interval_s=60, instance_id="second", retry_interval_s=FAST_S, check_interval_s=FAST_S
    )
    assert first.start()
    try:
        assert not second.start()
        election = second.election
        assert election is not None
        assert election.state is LeadershipState.FOLLOWER
        assert election.leader_instance() == "first"  # the holder's id, read from the lock file
        assert not election.confirm()  # a follower's tick job does nothing
        first.shutdown()
        assert _eventually(lambda: election.is_leader)  # no call to start(): the follower retried
        assert election.leader_instance() == "second"
        assert REGISTRY.get_sample_value("pump_scheduler_leader") == 1
    finally:
        first.shutdown()
        second.shutdown()
    assert election.state.value == "stopped"


def test_the_new_leader_catches_up_at_once(engine: Engine, settings: Settings) -> None:
    clinic_of_booked_pumps(engine, [BASE + timedelta(hours=12)])  # both reminders (7 d, 1 d) due at BASE
    clock = ManualClock(BASE)
    first = RefillScheduler(
        engine, settings, clock, interval_s=3600, instance_id="first", retry_interval_s=FAST_S, check_interval_s=FAST_S
    )
    second = RefillScheduler(
        engine, settings, clock, interval_s=3600, instance_id="second", retry_interval_s=FAST_S, check_interval_s=FAST_S
    )
    assert first.start()  # its catch-up tick decides the two reminders due at BASE
    try:
        assert not second.start()
        assert _notifications(engine) == 2
        assert second.ticks == 0
        first.shutdown()
        assert _eventually(lambda: second.ticks == 1)  # elected: it ticks without waiting an hour
    finally:
        first.shutdown()
        second.shutdown()
    assert _notifications(engine) == 2  # and decides nothing twice


def test_a_leader_whose_lock_file_is_replaced_steps_down_and_tries_again(tmp_path: Path) -> None:
    path = tmp_path / "pump.db.scheduler.lock"
    elected: list[int] = []
    election = LeaderElection(
        FileLeaderLock(path, "solo"),
        instance_id="solo",
        on_elected=lambda: elected.append(1),
        retry_interval_s=FAST_S,
        check_interval_s=FAST_S,
    )
    lost_before = _lost()
    assert election.start() is LeadershipState.LEADER
    try:
        assert path.read_text() == "solo"
        path.unlink()  # another process could now lock a new file at this path
        assert not election.confirm()  # checked before the next tick: no tick
        assert election.state is LeadershipState.FOLLOWER
        assert _lost() == lost_before + 1
        assert _eventually(lambda: election.is_leader)  # the path is free again: it takes it back
        assert len(elected) == 2
        assert path.read_text() == "solo"
    finally:
        election.stop()


def test_two_locks_on_one_file_are_never_held_together(tmp_path: Path) -> None:
    path = tmp_path / "pump.db.scheduler.lock"
    one, two = FileLeaderLock(path, "one"), FileLeaderLock(path, "two")
    assert one.try_acquire()
    assert not two.try_acquire()
    assert two.holder() == "one"
    one.release()
    assert one.holder() is None  # free: the file still names the past holder, but nobody holds it
    assert two.try_acquire()
    assert not one.try_acquire()
    assert one.holder() == "two"
    two.dispose()


def test_an_unreachable_postgresql_makes_a_follower_not_an_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/nowhere")
    lock = AdvisoryLeaderLock(engine, "lonely")
    election = LeaderElection(lock, instance_id="lonely", retry_interval_s=FAST_S, check_interval_s=FAST_S)
    try:
        assert election.start() is LeadershipState.FOLLOWER  # it keeps serving, and keeps trying
        assert not election.confirm()
        assert election.leader_instance() is None
    finally:
        election.stop()
        engine.dispose()


def test_a_leader_deposed_before_a_tick_stays_out_for_its_backoff(tmp_path: Path) -> None:
    """Seen in the PostgreSQL drill: deposed by the tick thread, it took the lock back at once.

    The election thread was asleep on the leader's short check interval, so its next round came
    before the backoff and the healthy follower never got the lock.
    """
    path = tmp_path / "pump.db.scheduler.lock"
    election = LeaderElection(
        FileLeaderLock(path, "deposed"), instance_id="deposed", on_elected=lambda: None, retry_interval_s=60.0,
        check_interval_s=60.0,
    )  # fmt: skip
    assert election.start() is LeadershipState.LEADER  # its thread sleeps 60 s: the rounds below are by hand
    try:
        path.unlink()
        assert not election.confirm()
        assert election.step() is LeadershipState.FOLLOWER  # within its backoff: no try for the lock
        assert election.step() is LeadershipState.FOLLOWER
    finally:
        election.stop()
