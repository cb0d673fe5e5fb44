"""The service's Prometheus metrics: what the scheduler decided and delivered, refills, errors, leadership.

Each ``pump-service serve`` process exposes its own figures at ``/metrics``
(``api/routes/metrics.py``); Prometheus adds the ``instance`` label when it scrapes, so no label
here names one. Label values are fixed vocabularies (a decision kind, a delivery outcome, an
error kind or exception class name): never a patient reference, a pump serial or a message.

Refills are counted when their transaction commits (:func:`install_refill_counter`): a refill
that rolls back, or is replayed from its idempotency key, is not counted.
"""

from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

from pump_service.persistence.models import Refill

__all__ = [
    "DELIVERIES",
    "DUE_DECIDED",
    "ERRORS",
    "HTTP_PROBLEMS",
    "LEADER",
    "REFILLS_RECORDED",
    "REGISTRY",
    "TICK_DURATION",
    "count_error",
    "install_refill_counter",
]

TICK_DURATION = Histogram(
    "pump_scheduler_tick_duration_seconds",
    "Wall time of one scheduler tick (decisions and the delivery steps after them)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
DUE_DECIDED = Counter("pump_scheduler_due_decided", "Scheduler decisions recorded (reminders, escalations)", ["kind"])
DELIVERIES = Counter(
    "pump_deliveries",
    "Delivery attempts recorded, by what was delivered (notification channel or charge) and the outcome",
    ["target", "outcome"],
)
REFILLS_RECORDED = Counter("pump_refills_recorded", "Refills committed by this process")
ERRORS = Counter("pump_errors", "Errors the service caught and carried on from, by kind", ["kind"])
HTTP_PROBLEMS = Counter(
    "pump_http_problems",
    "Problem responses answered, by HTTP status and problem kind (a 4xx is the client's, a 5xx the service's)",
    ["status", "kind"],
)
LEADER = Gauge("pump_scheduler_leader", "1 while this process leads the scheduler, else 0")

_PENDING_REFILLS = "pump_metrics_new_refills"
_installed = False


def count_error(kind: str, exc: BaseException | None = None) -> None:
    """Count one error of ``kind``; with ``exc``, its class name is the kind's suffix (never its message)."""
    ERRORS.labels(kind=f"{kind}:{type(exc).__name__}" if exc is not None else kind).inc()


def _note_new_refills(session: Session, _context: Any) -> None:
    added = sum(1 for item in session.new if isinstance(item, Refill))
    if added:
        session.info[_PENDING_REFILLS] = session.info.get(_PENDING_REFILLS, 0) + added


def _count_committed(session: Session) -> None:
    added = session.info.pop(_PENDING_REFILLS, 0)
    if added:
        REFILLS_RECORDED.inc(added)


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING_REFILLS, None)


def install_refill_counter() -> None:
    """Count committed refills from every ORM session of this process (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _note_new_refills)
    event.listen(Session, "after_commit", _count_committed)
    event.listen(Session, "after_rollback", _forget)
    _installed = True
