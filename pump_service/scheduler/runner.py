"""The refill scheduler: APScheduler 3 runs one tick job; the tick asks the services what is due.

Design ("tick + due table"): the database is the source of truth and APScheduler holds no state
worth keeping, so it runs on a MemoryJobStore in UTC with a single interval job, ``coalesce=True``,
``max_instances=1`` and ``misfire_grace_time=None`` (APScheduler's default grace of 1 s would
silently drop a late run). The tick's notion of now comes from the injected clock, so tests and
benches run it in virtual time; a tick that comes late, twice, or after days of downtime finds
every due item in the tables and decides each once (see services/scheduling/notifications.py).
"""

from collections.abc import Callable

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from pump_service.persistence.db import read_transaction, transaction
from pump_service.scheduler.attribution import as_scheduler
from pump_service.scheduler.leader import LeaderLock, acquire_leader_lock
from pump_service.services.scheduling.notifications import TickReport, find_due, record_due
from pump_service.settings import Settings
from schemas.clock import Clock

__all__ = ["RefillScheduler"]

log = structlog.get_logger(__name__)


class RefillScheduler:
    """Owns the APScheduler instance and the leader lock; :meth:`tick` is the whole job."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Clock,
        *,
        interval_s: float | None = None,
        extra_work: tuple[Callable[[], object], ...] = (),
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._interval_s = interval_s or settings.tick_interval_s
        self._extra_work = extra_work
        self._scheduler: BackgroundScheduler | None = None
        self._lock: LeaderLock | None = None
        self.ticks = 0

    def tick(self) -> TickReport:
        """Decide everything due now: find it in a read snapshot, then record it in a short write.

        The read phase never takes SQLite's write lock, so refills recorded meanwhile do not wait;
        the write phase re-checks each decision against the rows as they are then. A tick with
        nothing due writes nothing.
        """
        now = self._clock.now()
        with as_scheduler(self._settings, self._clock):
            with read_transaction(self._engine) as session:
                plan = find_due(session, settings=self._settings, now=now)
            report = TickReport()
            if not plan.empty:
                with transaction(self._engine) as session:
                    report = record_due(session, plan)
            for work in self._extra_work:
                work()
        self.ticks += 1
        if report.total:
            log.info("tick", at=now.isoformat(), **dict(report.created))
        return report

    def start(self) -> bool:
        """Start ticking if this process wins the leader lock; returns whether it did."""
        self._lock = acquire_leader_lock(self._engine)
        if self._lock is None:
            log.warning("scheduler_not_started", reason="another process holds the scheduler lock")
            return False
        scheduler = BackgroundScheduler(
            timezone="UTC",
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=1)},
        )
        self.tick()  # catch up at once after downtime, before the first interval has passed
        scheduler.add_listener(self._on_problem, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self._interval_s, timezone="UTC"),
            id="tick",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler
        return True

    def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @staticmethod
    def _on_problem(event: JobExecutionEvent) -> None:
        if event.exception is not None:
            # The type only: a service error's message may name a patient, and logs hold no PHI.
            log.error("tick_failed", error=type(event.exception).__name__)
        else:
            log.warning("tick_missed", scheduled=str(event.scheduled_run_time))
