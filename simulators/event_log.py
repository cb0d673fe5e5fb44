"""A programmable pump's event log: the newest 8192 entries, indices that only ever increase.

When the log is full the oldest entry is overwritten and ``first`` rises; an entry keeps its
index for life, so a reader resumes from the index it stopped at (HPP/1 ``LOG_READ``).
"""

from collections import deque
from collections.abc import Callable
from datetime import datetime
from itertools import islice
from typing import Any

from schemas.device_log import DeviceLogEntry, LogEntryType
from schemas.status import LogCursor

__all__ = ["LOG_CAPACITY", "PumpEventLog"]

LOG_CAPACITY = 8192


class PumpEventLog:
    def __init__(self, capacity: int = LOG_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("a log holds at least one entry")
        self._entries: deque[DeviceLogEntry] = deque(maxlen=capacity)
        self._next = 0

    @property
    def first(self) -> int:
        """Index of the oldest entry still held (equals ``next`` when empty)."""
        return self._next - len(self._entries)

    @property
    def next(self) -> int:
        """Index the next entry will get."""
        return self._next

    @property
    def cursor(self) -> LogCursor:
        return LogCursor(first=self.first, next=self._next)

    def append(self, at: datetime, entry_type: LogEntryType, data: dict[str, Any] | None = None) -> DeviceLogEntry:
        """Write an entry stamped with the pump's clock ``at``; returns it with its index."""
        entry = DeviceLogEntry(index=self._next, device_time_at=at, type=entry_type, data=data or {})
        self._entries.append(entry)
        self._next += 1
        return entry

    def read(self, from_index: int, max_entries: int) -> tuple[list[DeviceLogEntry], int, bool]:
        """Up to ``max_entries`` from ``from_index`` (or the oldest held, if that was overwritten).

        Returns the entries, the index to read from next, and whether more are waiting.

        Raises:
            ValueError: a negative index or a non-positive page size.
        """
        if from_index < 0 or max_entries < 1:
            raise ValueError("from_index must be >= 0 and max_entries >= 1")
        start = max(from_index, self.first)
        if start >= self._next:
            return [], start, False
        offset = start - self.first
        entries = list(islice(self._entries, offset, offset + max_entries))
        following = start + len(entries)
        return entries, following, following < self._next

    def find(self, predicate: Callable[[DeviceLogEntry], bool]) -> DeviceLogEntry | None:
        """The newest entry for which ``predicate(entry)`` is true, if still held."""
        for entry in reversed(self._entries):
            if predicate(entry):
                return entry
        return None
