"""The clock seam: every part of the system reads time through a :class:`Clock`.

:class:`SystemClock` is the only place in the code base that reads the wall clock; tests,
simulators and benches pass a manual clock instead, so a fourteen-day refill interval runs in
microseconds. All datetimes are timezone-aware UTC; :func:`as_utc` is the gate that refuses naive
values instead of guessing their zone.
"""

import time
from datetime import UTC, datetime
from typing import Annotated, Protocol, runtime_checkable

from pydantic import AfterValidator, AwareDatetime

__all__ = ["Clock", "SystemClock", "UtcDatetime", "as_utc"]


@runtime_checkable
class Clock(Protocol):
    """Time source: aware-UTC wall time, a monotonic counter for deadlines, and sleep."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards (for timeouts)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; a manual clock advances instead of blocking."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def as_utc(value: datetime, *, field: str = "datetime") -> datetime:
    """Return ``value`` converted to UTC.

    Raises:
        ValueError: ``value`` is naive; a naive time has no defined instant and is never guessed.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must carry a UTC offset (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A pydantic field type: refuses naive datetimes, converts aware ones to UTC."""
