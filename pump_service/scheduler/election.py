"""Who ticks: every instance runs an election; the holder of the leader lock leads, the others follow.

A follower tries the lock every ``retry_interval_s``; the leader checks it every
``check_interval_s`` and before every tick (:meth:`LeaderElection.confirm`, one cheap query on
PostgreSQL). A leader whose check fails (its connection died, the server restarted, the backend was
terminated) stops ticking at once and becomes a follower; it then waits a few retry intervals
before trying again, so that a healthy follower takes over first. A follower takes over within
one retry interval of the lock coming free (the leader was killed, or lost its connection).

The intervals are real time (``threading.Event.wait``), not the injected clock: they pace the
conversation with the database, while the tick's own notion of now still comes from the clock.
"""

import threading
from collections.abc import Callable
from enum import StrEnum

import structlog

from pump_service.metrics import LEADER, count_error
from pump_service.scheduler.leader import LeaderLock
from schemas.clock import SystemClock

__all__ = ["DEPOSED_BACKOFF", "LeaderElection", "LeadershipState"]

log = structlog.get_logger(__name__)

# A leader that just lost its lock waits this many retry intervals before trying again.
DEPOSED_BACKOFF = 3
_REAL_TIME = SystemClock()  # the election paces itself in real time (see the module docstring)


class LeadershipState(StrEnum):
    FOLLOWER = "follower"
    LEADER = "leader"
    STOPPED = "stopped"


class LeaderElection:
    """One instance's part in the election; ``on_elected`` runs (on the election thread) when it wins."""

    def __init__(
        self,
        lock: LeaderLock,
        *,
        instance_id: str,
        retry_interval_s: float = 3.0,
        check_interval_s: float = 2.0,
        on_elected: Callable[[], object] = lambda: None,
    ) -> None:
        if retry_interval_s <= 0 or check_interval_s <= 0:
            raise ValueError("the election's intervals must be positive")
        self.instance_id = instance_id
        self._lock = lock
        self._retry_interval_s = retry_interval_s
        self._check_interval_s = check_interval_s
        self._on_elected = on_elected
        self._state = LeadershipState.STOPPED
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wait_s = retry_interval_s
        # A deposed leader stays out this long (monotonic seconds): the election thread may already
        # be asleep on the old, shorter wait when the tick thread deposes it.
        self._retry_not_before = 0.0

    @property
    def state(self) -> LeadershipState:
        return self._state

    @property
    def is_leader(self) -> bool:
        return self._state is LeadershipState.LEADER

    def leader_instance(self) -> str | None:
        """The instance that leads now, where the lock can tell (this one's id if it leads)."""
        return self.instance_id if self.is_leader else self._lock.holder()

    def step(self) -> LeadershipState:
        """One round: a follower tries the lock, a leader checks it. Returns the state afterwards."""
        elected = False
        with self._mutex:
            if self._state is LeadershipState.LEADER:
                if not self._lock.confirm():
                    self._depose("the leader lock was lost (connection gone or lock released)")
            elif self._state is LeadershipState.FOLLOWER and _REAL_TIME.monotonic() < self._retry_not_before:
                self._wait_s = self._retry_interval_s
            elif self._state is LeadershipState.FOLLOWER:
                if self._lock.try_acquire():
                    self._transition(LeadershipState.LEADER, "took the leader lock")
                    self._wait_s = self._check_interval_s
                    elected = True
                else:
                    self._wait_s = self._retry_interval_s
            state = self._state
        if elected:
            self._on_elected()
        return state

    def confirm(self) -> bool:
        """Whether this instance leads right now (checked with the lock); called before every tick."""
        with self._mutex:
            if self._state is not LeadershipState.LEADER:
                return False
            if self._lock.confirm():
                return True
            self._depose("the leader lock was lost before a tick")
            return False

    def start(self) -> LeadershipState:
        """Join the election: one round now, then rounds on a background thread until :meth:`stop`."""
        with self._mutex:
            if self._state is LeadershipState.STOPPED:
                self._transition(LeadershipState.FOLLOWER, "joined the election")
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="scheduler-election", daemon=True)
                start_thread = True
            else:
                start_thread = False
        state = self.step()
        if start_thread and self._thread is not None:
            self._thread.start()
        return state

    def stop(self) -> None:
        """Leave the election and give up the lock."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._mutex:
            self._lock.dispose()
            if self._state is not LeadershipState.STOPPED:
                self._transition(LeadershipState.STOPPED, "left the election")

    def _run(self) -> None:
        while not self._stop.wait(self._wait_s):
            try:
                self.step()
            except Exception as exc:  # the election thread must outlive any one failed round
                count_error("election", exc)
                log.error("election_round_failed", error=type(exc).__name__)

    def _depose(self, reason: str) -> None:
        self._lock.release()
        self._transition(LeadershipState.FOLLOWER, reason)
        count_error("leadership_lost")
        self._wait_s = self._retry_interval_s * DEPOSED_BACKOFF
        self._retry_not_before = _REAL_TIME.monotonic() + self._wait_s

    def _transition(self, state: LeadershipState, reason: str) -> None:
        previous, self._state = self._state, state
        LEADER.set(1 if state is LeadershipState.LEADER else 0)
        log.info("leadership", instance=self.instance_id, state=state.value, previous=previous.value, reason=reason)
