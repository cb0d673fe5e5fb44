"""A manual clock: virtual time that only moves when told to, so fourteen days take microseconds.

Implements :class:`schemas.clock.Clock`. ``sleep()`` advances the clock instead of blocking, so
code that waits (a driver's reply deadline, a scheduler tick) runs unchanged in virtual time.
Thread-safe: a simulated programmer serving a pty reads it from another thread.
"""

import threading
from datetime import datetime, timedelta

from schemas.clock import as_utc

__all__ = ["ManualClock"]


class ManualClock:
    """Aware-UTC virtual time plus a monotonic counter that moves with it."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start, field="start")
        self._monotonic_s = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic_s

    def sleep(self, seconds: float) -> None:
        """Advance instead of blocking (a negative wait is no wait, as with ``time.sleep``'s callers)."""
        self.advance(max(0.0, seconds))

    def advance(self, delta: "float | timedelta") -> datetime:
        """Move forward by ``delta`` seconds (or a timedelta); returns the new time.

        Raises:
            ValueError: a negative step: virtual time, like real time, never runs backwards.
        """
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._monotonic_s += seconds
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (not before the current time).

        Raises:
            ValueError: ``moment`` is naive or earlier than now.
        """
        target = as_utc(moment, field="moment")
        with self._lock:
            if target < self._now:
                raise ValueError(f"a clock cannot go back ({target.isoformat()} < {self._now.isoformat()})")
            self._monotonic_s += (target - self._now).total_seconds()
            self._now = target
