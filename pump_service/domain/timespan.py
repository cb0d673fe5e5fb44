"""Elapsed time between two aware instants, in the fractional days every refill formula uses."""

from datetime import datetime

from pump_service.errors import RuleViolationError

SECONDS_PER_DAY = 86_400.0


def require_aware(value: datetime, field: str) -> None:
    """Refuse a naive datetime: it names no instant.

    Raises:
        RuleViolationError: ``value`` has no UTC offset.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise RuleViolationError(f"{field} must carry a UTC offset (got naive {value.isoformat()})", field=field)


def elapsed_days(start: datetime, end: datetime, *, start_field: str = "filled_at", end_field: str = "now") -> float:
    """Fractional days from ``start`` to ``end``.

    Raises:
        RuleViolationError: a naive datetime, or ``end`` not after ``start``.
    """
    require_aware(start, start_field)
    require_aware(end, end_field)
    days = (end - start).total_seconds() / SECONDS_PER_DAY
    if days <= 0:
        raise RuleViolationError(
            f"{end_field} ({end.isoformat()}) must be after {start_field} ({start.isoformat()})", field=end_field
        )
    return days
