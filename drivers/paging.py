"""Adaptive ``LOG_READ`` page size: smaller pages after a failed one, larger again after clean ones.

Why: every byte of a page must survive the line for the page to arrive. At a byte error rate
of 1e-3 a full page (up to 64 entries, at most ~4.1 KB) arrives intact with probability ~1.6 %
per attempt, so the four attempts HPP/1 allows for one request almost never deliver it, while a
page of ~0.4 KB (two typical entries) arrives two times in three.

What HPP/1 fixes and what it leaves to the host (spec §3, §4):

- ``max`` of ``LOG_READ`` is the host's choice within 1-64, and reading is resumable from any
  index, so the size of each page may change from one request to the next;
- a timeout or a NAK is answered by resending the *same bytes* (same SEQ, same ``max``), at
  most three times: the size never changes inside one exchange;
- ``LOG_READ`` changes nothing on the pump, so after a failed exchange a new request under a
  new SEQ (with a smaller ``max``) is allowed; only state-changing requests are barred from that.

So the policy acts between exchanges: a page answered on its first attempt is *clean*; one that
needed a resend, or a request that failed after its last resend, halves the next page (down to
``floor``); ``grow_after`` clean pages in a row double it again (up to the caller's ceiling).
"""

import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from drivers.commands import log_read_request
from drivers.errors import DeviceTimeoutError, NakError
from drivers.messages import LOG_READ_MAX_ENTRIES
from drivers.reread import heard_from_programmer
from drivers.session import Session

__all__ = [
    "DEFAULT_FLOOR",
    "DEFAULT_GROW_AFTER",
    "FLOOR_FAILURES",
    "AdaptivePageSize",
    "PageOutcome",
    "PagingCounters",
    "read_log_page",
]

logger = logging.getLogger(__name__)

DEFAULT_FLOOR: Final = 1
DEFAULT_GROW_AFTER: Final = 4
FLOOR_FAILURES: Final = 5
"""Failed ``LOG_READ`` requests in a row at the smallest page size before a log read gives up."""


class PageOutcome(StrEnum):
    CLEAN = "clean"  # answered on the first attempt
    RESENT = "resent"  # answered, but only after a timeout or a NAK
    FAILED = "failed"  # no answer after the last resend


@dataclass(slots=True)
class PagingCounters:
    """What the page-size policy saw; :meth:`snapshot` copies it."""

    pages: int = 0
    resent_pages: int = 0
    failed_pages: int = 0
    shrinks: int = 0
    grows: int = 0

    def snapshot(self) -> "PagingCounters":
        return replace(self)


class AdaptivePageSize:
    """The ``max`` of the next ``LOG_READ``: halved after a resent or failed page, doubled after clean runs.

    Args:
        ceiling: the largest page (HPP/1: 64); also the starting size.
        floor: the smallest page it shrinks to.
        grow_after: clean pages in a row before the size doubles.

    Raises:
        ValueError: sizes outside 1-64, a floor above the ceiling, or ``grow_after`` below 1.
    """

    def __init__(
        self,
        *,
        ceiling: int = LOG_READ_MAX_ENTRIES,
        floor: int = DEFAULT_FLOOR,
        grow_after: int = DEFAULT_GROW_AFTER,
    ) -> None:
        if not 1 <= floor <= ceiling <= LOG_READ_MAX_ENTRIES:
            raise ValueError(f"page sizes must satisfy 1 ≤ floor ≤ ceiling ≤ 64, got {floor} and {ceiling}")
        if grow_after < 1:
            raise ValueError(f"grow_after must be ≥ 1, got {grow_after}")
        self.ceiling = ceiling
        self.floor = floor
        self.grow_after = grow_after
        self._size = ceiling
        self._clean_run = 0
        self.counters = PagingCounters()

    @property
    def size(self) -> int:
        return self._size

    @property
    def at_floor(self) -> bool:
        return self._size <= self.floor

    def record(self, outcome: PageOutcome) -> None:
        """Adjust the next page's size after a page with ``outcome``."""
        if outcome is PageOutcome.FAILED:
            self.counters.failed_pages += 1
        else:
            self.counters.pages += 1
        if outcome is PageOutcome.CLEAN:
            self._clean_run += 1
            if self._clean_run >= self.grow_after and self._size < self.ceiling:
                self._size = min(self.ceiling, self._size * 2)
                self._clean_run = 0
                self.counters.grows += 1
            return
        if outcome is PageOutcome.RESENT:
            self.counters.resent_pages += 1
        self._clean_run = 0
        if self._size > self.floor:
            self._size = max(self.floor, self._size // 2)
            self.counters.shrinks += 1


def read_log_page(session: Session, sizes: AdaptivePageSize, *, from_index: int, size: int) -> dict[str, Any]:
    """The result of one ``LOG_READ`` from ``from_index`` of at most ``size`` entries.

    A request that fails after its last resend while the programmer is still heard (NAKs,
    damaged frames) is asked for again, smaller, under a new SEQ. It gives up, re-raising the
    last failure with a note of the index to resume from, at once on a silent line, or after
    :data:`FLOOR_FAILURES` failures in a row at the floor.

    Raises:
        DeviceTimeoutError, NakError: the page could not be read.
        ProgrammerError: the programmer refused the request (e.g. ``OUT_OF_RANGE``).
        ProtocolError, TransportError: as :meth:`Session.exchange`.
    """
    floor_failures = 0
    while True:
        request = log_read_request(from_index=from_index, max_entries=size)
        before = session.counters.snapshot()
        try:
            reply = session.exchange(request)
        except (DeviceTimeoutError, NakError) as exc:
            sizes.record(PageOutcome.FAILED)
            floor_failures += 1 if size <= sizes.floor else 0
            if not heard_from_programmer(before, session.counters) or floor_failures >= FLOOR_FAILURES:
                exc.add_note(f"the log read stopped at index {from_index}: resume from there")
                raise
            smaller = min(size, sizes.size)
            logger.info("LOG_READ of %d from %d failed on a noisy line; asking for %d", size, from_index, smaller)
            size = smaller
            continue
        sizes.record(PageOutcome.CLEAN if reply.attempts == 1 else PageOutcome.RESENT)
        return reply.response.result_or_raise(command=request.command, seq=reply.seq)
