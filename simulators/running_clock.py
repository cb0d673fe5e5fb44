"""A clock that jumps from event to event in virtual time and runs at real speed in between.

A drill whose service runs in another process cannot freeze time while it waits: the driver's
reply deadlines, the programmer's link time and the pump's clock must move while bytes travel
over a real socket. :class:`RunningClock` keeps virtual time (so days pass between events in
microseconds) but lets real seconds pass within an event. Both sides of a drill build one from
the same virtual moment, so they agree to within the milliseconds a message takes.
"""

import threading
from datetime import datetime, timedelta

from schemas.clock import Clock, SystemClock, as_utc

__all__ = ["RunningClock"]


class RunningClock:
    """Virtual ``now()`` = the last moment set + the real time elapsed since; ``monotonic``/``sleep`` are real."""

    def __init__(self, start: datetime, *, real: Clock | None = None) -> None:
        self._real = real or SystemClock()
        self._base = as_utc(start, field="start")
        self._base_s = self._real.monotonic()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=self._real.monotonic() - self._base_s)

    def monotonic(self) -> float:
        return self._real.monotonic()

    def sleep(self, seconds: float) -> None:
        self._real.sleep(max(0.0, seconds))

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment``, or stay where real time has already carried the clock; returns the new time.

        Raises:
            ValueError: ``moment`` is naive.
        """
        target = as_utc(moment, field="moment")
        with self._lock:
            now_s = self._real.monotonic()
            current = self._base + timedelta(seconds=now_s - self._base_s)
            self._base, self._base_s = max(target, current), now_s
            return self._base
