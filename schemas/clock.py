"""The clock seam: every part of the system reads time through a :class:`Clock`.

:class:`SystemClock` is the only place in the code base that reads the wall clock; tests,
simulators and benches pass a manual clock instead, so a fourteen-day refill interval runs in
microseconds. All datetimes are timezone-aware UTC; :func:`as_utc` is the gate that refuses naive
values instead of guessing their zone.
"""

import re
import time
from datetime import UTC, date, datetime
from typing import Annotated, Any, Protocol, runtime_checkable

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

__all__ = ["EARLIEST_UTC", "LATEST_UTC", "Clock", "IsoDate", "SystemClock", "UtcDatetime", "as_utc"]


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


# Times the service computes with (due dates, clinic days, intervals): a value far outside them
# would overflow later arithmetic (``+ timedelta(days=...)``), so it is refused at the edge.
EARLIEST_UTC = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_UTC = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _to_utc(value: datetime) -> datetime:
    try:
        moment = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is after the last representable instant
        raise ValueError("the time is outside the range of representable UTC times") from None
    if not EARLIEST_UTC <= moment <= LATEST_UTC:
        raise ValueError(f"the time must lie between {EARLIEST_UTC.year} and {LATEST_UTC.year} (got {moment.year})")
    return moment


def _text_or_datetime(value: Any) -> Any:
    # pydantic would read a number (or "0.5") as a Unix timestamp; a client means an ISO 8601 time
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _ISO_DATE.match(value) is None):
        raise ValueError("expected an ISO 8601 time with a UTC offset, e.g. 2026-11-02T09:00:00Z")
    return value


def _iso_date(value: Any) -> Any:
    # pydantic would read "0" or 0 as a Unix timestamp; only YYYY-MM-DD (or a date) is a date here
    if (
        isinstance(value, datetime)
        or not isinstance(value, str | date)
        or (isinstance(value, str) and _ISO_DATE.fullmatch(value) is None)
    ):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


def _date_in_range(value: date) -> date:
    if not EARLIEST_UTC.date() <= value <= LATEST_UTC.date():
        raise ValueError(f"the date must lie between {EARLIEST_UTC.year} and {LATEST_UTC.year}")
    return value


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_text_or_datetime), AfterValidator(_to_utc)]
"""A pydantic field type: refuses naive datetimes and bare numbers, converts aware ones to UTC (1900–2999)."""

IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_date_in_range)]
"""A pydantic field type: a calendar date written YYYY-MM-DD, between 1900 and 2999."""
