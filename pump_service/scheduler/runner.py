"""The refill scheduler: APScheduler 3 runs one tick job; the tick asks the services what is due.

Design ("tick + due table"): the database is the source of truth and APScheduler holds no state
worth keeping, so it runs on a MemoryJobStore in UTC with a single interval job, ``coalesce=True``,
``max_instances=1`` and ``misfire_grace_time=None`` (APScheduler's default grace of 1 s would
silently drop a late run). The tick's notion of now comes from the injected clock, so tests and
benches run it in virtual time; a tick that comes late, twice, or after days of downtime finds
every due item in the tables and decides each once (see services/scheduling/notifications.py).

Several instances on one database: each runs this scheduler, and only the elected leader's tick
job ticks (election.py, leader.py). Two leaders may overlap for a moment (one lost its lock in the
middle of a tick); the database's unique keys and atomic claims make that harmless: a decision is
recorded once, and a delivery sent by the one that claimed it.
"""

import os
import socket
import threading
from collections.abc import Callable

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from pump_service.metrics import DUE_DECIDED, TICK_DURATION, count_error
from pump_service.persistence.db import read_transaction, transaction
from pump_service.scheduler.attribution import as_scheduler
from pump_service.scheduler.election import LeaderElection, LeadershipState
from pump_service.scheduler.leader import leader_lock_for
from pump_service.services.scheduling.notifications import TickReport, find_due, record_due
from pump_service.settings import Settings
from schemas.clock import Clock

__all__ = ["DEFAULT_CHECK_INTERVAL_S", "DEFAULT_RETRY_INTERVAL_S", "RefillScheduler", "default_instance_id"]

log = structlog.get_logger(__name__)

DEFAULT_RETRY_INTERVAL_S = 3.0  # a follower tries the leader lock this often
DEFAULT_CHECK_INTERVAL_S = 2.0  # the leader checks its lock this often (and before every tick)


def default_instance_id() -> str:
    """``host:pid``: unique among the processes sharing a database, and meaningful to an operator."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RefillScheduler:
    """Owns the APScheduler instance and this instance's leader election; :meth:`tick` is the whole job.

    :meth:`tick` itself always ticks (tests, benches and the clinic loop call it directly); the
    scheduled job ticks only while this instance leads.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Clock,
        *,
        interval_s: float | None = None,
        extra_work: tuple[Callable[[], object], ...] = (),
        instance_id: str | None = None,
        retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
        check_interval_s: float = DEFAULT_CHECK_INTERVAL_S,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._interval_s = interval_s or settings.tick_interval_s
        self._extra_work = extra_work
        self._scheduler: BackgroundScheduler | None = None
        self._election: LeaderElection | None = None
        self._tick_mutex = threading.Lock()
        self._retry_interval_s = retry_interval_s
        self._check_interval_s = check_interval_s
        self.instance_id = instance_id or default_instance_id()
        self.ticks = 0

    def tick(self) -> TickReport:
        """Decide everything due now: find it in a read snapshot, then record it in a short write.

        The read phase never takes SQLite's write lock, so refills recorded meanwhile do not wait;
        the write phase re-checks each decision against the rows as they are then. A tick with
        nothing due writes nothing.
        """
        now = self._clock.now()
        with TICK_DURATION.time(), as_scheduler(self._settings, self._clock):
            with read_transaction(self._engine) as session:
                plan = find_due(session, settings=self._settings, now=now)
            report = TickReport()
            if not plan.empty:
                with transaction(self._engine) as session:
                    report = record_due(session, plan)
            for kind, count in report.created.items():
                DUE_DECIDED.labels(kind=kind).inc(count)
            for work in self._extra_work:
                work()
        self.ticks += 1
        if report.total:
            log.info("tick", at=now.isoformat(), **dict(report.created))
        return report

    @property
    def election(self) -> LeaderElection | None:
        """This instance's part in the leader election, once :meth:`start` has run."""
        return self._election

    def start(self) -> bool:
        """Join the leader election and start the tick job; returns whether this instance leads now.

        A follower keeps serving and tries the lock again every ``retry_interval_s``; the tick job
        runs in every instance but does nothing unless its instance leads (checked before each
        tick). Winning the election runs a tick at once, to catch up after downtime. Calling this
        again tries the lock again at once.
        """
        if self._election is not None:
            return self._election.step() is LeadershipState.LEADER
        election = LeaderElection(
            leader_lock_for(self._engine, self.instance_id),
            instance_id=self.instance_id,
            retry_interval_s=self._retry_interval_s,
            check_interval_s=self._check_interval_s,
            on_elected=self._catch_up,
        )
        self._election = election
        scheduler = BackgroundScheduler(
            timezone="UTC",
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=1)},
        )
        scheduler.add_listener(self._on_problem, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        scheduler.add_job(
            self._scheduled_tick,
            IntervalTrigger(seconds=self._interval_s, timezone="UTC"),
            id="tick",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler
        state = election.start()
        if state is not LeadershipState.LEADER:
            log.warning("scheduler_following", instance=self.instance_id, reason="another instance leads")
        return state is LeadershipState.LEADER

    def _scheduled_tick(self) -> None:
        """The tick job: a tick only while this instance leads, confirmed with the lock just before."""
        if self._election is None or not self._election.confirm():
            return
        with self._tick_mutex:
            self.tick()

    def _catch_up(self) -> None:
        """Just elected: tick now rather than an interval later (runs on the election's thread)."""
        try:
            with self._tick_mutex:
                self.tick()
        except Exception as exc:  # the scheduler's job wrapper: log and carry on, the next tick retries
            self._on_problem_exception(exc)

    def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        if self._election is not None:
            self._election.stop()
            self._election = None

    @staticmethod
    def _on_problem(event: JobExecutionEvent) -> None:
        if event.exception is not None:
            RefillScheduler._on_problem_exception(event.exception)
        else:
            count_error("tick_missed")
            log.warning("tick_missed", scheduled=str(event.scheduled_run_time))

    @staticmethod
    def _on_problem_exception(exc: BaseException) -> None:
        # The type only: a service error's message may name a patient, and logs hold no PHI.
        count_error("tick", exc)
        log.error("tick_failed", error=type(exc).__name__)
