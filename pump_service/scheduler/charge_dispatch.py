"""The scheduler's charge delivery step, to run after each tick as ``RefillScheduler`` extra work.

Wiring (where the scheduler is built)::

    RefillScheduler(engine, settings, clock, extra_work=(charge_dispatch_work(engine, settings, clock),))

Each call sends the stored charge events that are due to the destination the settings name
(``charge_destination_url`` or ``charge_drop_folder``) and records the outcomes; failed attempts
come back on a later tick, after the retry policy's backoff, in the clock's time. Sending happens
between two short transactions, never inside one, so a slow billing endpoint does not hold the
database's write lock while refills are being recorded. With no destination configured the work
does nothing and the events stay ``pending``.
"""

from collections.abc import Callable

import structlog
from sqlalchemy import Engine

from pump_service.billing import FolderDestination, HttpDestination, RetryPolicy, deliver
from pump_service.billing.delivery import HttpSender, urllib_post
from pump_service.metrics import DELIVERIES
from pump_service.persistence.db import transaction
from pump_service.scheduler.attribution import as_scheduler
from pump_service.services.charges.dispatch import DispatchReport, charge_destination, due_charges, record_outcomes
from pump_service.settings import Settings
from schemas.clock import Clock

__all__ = ["charge_dispatch_work"]

log = structlog.get_logger(__name__)


def charge_dispatch_work(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    destination: HttpDestination | FolderDestination | None = None,
    policy: RetryPolicy | None = None,
    send: HttpSender = urllib_post,
) -> Callable[[], DispatchReport]:
    """A callable that delivers the charges due at ``clock.now()`` and returns what it recorded.

    ``destination`` overrides the one the settings name.

    Raises:
        ValueError: the settings name both a URL and a drop folder, or an unusable URL or format
            (raised here, when the work is built, not on every tick).
    """
    target = destination or charge_destination(settings)

    def dispatch_charges() -> DispatchReport:
        if target is None:
            return DispatchReport()
        now = clock.now()
        with as_scheduler(settings, clock):
            with transaction(engine) as session:
                due = due_charges(session, now=now, claim_s=settings.delivery_claim_s)
            if not due.events:
                return DispatchReport()
            outcomes = deliver(due.events, target, now=now, attempts=due.attempts, policy=policy, send=send)
            with transaction(engine) as session:
                report = record_outcomes(session, due, outcomes, now=now)
        for outcome in report.outcomes:
            DELIVERIES.labels(target="charge", outcome=outcome.status.value).inc()
        log.info("charges_dispatched", at=now.isoformat(), **report.counts)
        return report

    return dispatch_charges
