"""The scheduler's notification delivery step, to run after each tick as ``RefillScheduler`` extra work.

Wiring (where the scheduler is built)::

    RefillScheduler(engine, settings, clock, extra_work=(..., notification_dispatch_work(engine, settings, clock)))

It runs after the tick's own decisions, so a reminder decided in a tick goes out in the same tick.
Each call creates the delivery rows of new open notifications, sends what is due through the
configured channels and records the outcomes; failed attempts come back on a later tick after the
retry policy's backoff, in the clock's time. Sending happens between two short transactions, never
inside one. With no channel configured the work does nothing. The log line carries counts only.
"""

from collections.abc import Callable, Sequence
from datetime import timedelta

import structlog
from sqlalchemy import Engine

from pump_service.metrics import DELIVERIES
from pump_service.outbound import RetryPolicy
from pump_service.persistence.db import transaction
from pump_service.scheduler.attribution import as_scheduler
from pump_service.services.scheduling.channels import Channel, channels_from_settings
from pump_service.services.scheduling.delivery import (
    DEFAULT_RETRY,
    DeliveryReport,
    due_deliveries,
    record_attempts,
    send_due,
)
from pump_service.settings import Settings
from schemas.clock import Clock

__all__ = ["notification_dispatch_work"]

log = structlog.get_logger(__name__)


def notification_dispatch_work(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    channels: Sequence[Channel] | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> Callable[[], DeliveryReport]:
    """A callable that delivers the notifications due at ``clock.now()`` and returns what it recorded.

    ``channels`` overrides the ones the settings configure.

    Raises:
        ValueError: unusable channel settings (raised here, when the work is built, not on every tick).
    """
    configured = tuple(channels) if channels is not None else channels_from_settings(settings)
    max_age = timedelta(hours=settings.notify_max_age_hours)

    def dispatch_notifications() -> DeliveryReport:
        if not configured:
            return DeliveryReport()
        now = clock.now()
        with as_scheduler(settings, clock):
            with transaction(engine) as session:
                snapshot = due_deliveries(
                    session, configured, now=now, max_age=max_age, claim_s=settings.delivery_claim_s
                )
            results = send_due(snapshot.deliveries, configured, now=now) if snapshot.deliveries else []
            with transaction(engine) as session:
                report = record_attempts(
                    session, results, now=now, policy=policy, created=snapshot.created, cancelled=snapshot.cancelled
                )
        for attempt in report.attempts:
            DELIVERIES.labels(target=f"notification_{attempt.channel.value}", outcome=attempt.state.value).inc()
        if report.cancelled:
            DELIVERIES.labels(target="notification", outcome="cancelled").inc(report.cancelled)
        if report.counts:
            log.info("notifications_dispatched", at=now.isoformat(), **report.counts)
        return report

    return dispatch_notifications
