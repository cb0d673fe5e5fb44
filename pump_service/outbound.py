"""What every outbound delivery shares: the retry policy with backoff, and an HTTP POST.

Charge delivery (``billing/delivery.py``) and notification delivery
(``services/scheduling/delivery.py``) both send at least once, record each attempt, and come back
after a backoff measured in the caller's clock. Time is always the caller's ``now``.
"""

import hashlib
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from schemas.clock import as_utc

__all__ = ["HttpSender", "RetryPolicy", "urllib_post"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: ``base_delay_s * factor**(attempt-1)``, capped, minus up to ``jitter_ratio``.

    The jitter derives from the item's key and the attempt number: stable across restarts,
    different across items, so a batch that failed together does not retry in lockstep.
    """

    base_delay_s: float = 60.0
    factor: float = 2.0
    max_delay_s: float = 6 * 3600.0
    jitter_ratio: float = 0.2
    max_attempts: int = 20

    def __post_init__(self) -> None:
        if self.base_delay_s <= 0 or self.factor < 1 or self.max_delay_s < self.base_delay_s:
            raise ValueError("need base_delay_s > 0, factor >= 1 and max_delay_s >= base_delay_s")
        if not 0 <= self.jitter_ratio < 1 or self.max_attempts < 1:
            raise ValueError("need 0 <= jitter_ratio < 1 and max_attempts >= 1")

    def delay_s(self, key: str, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) of the item ``key``."""
        exponent = min(max(attempt, 1) - 1, 64)  # beyond 2**64 the cap has long applied
        delay = min(self.max_delay_s, self.base_delay_s * self.factor**exponent)
        digest = hashlib.sha256(f"{key}|{attempt}".encode()).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        return delay * (1.0 - self.jitter_ratio * fraction)

    def retry_at(self, key: str, attempt: int, now: datetime) -> datetime:
        return as_utc(now, field="now") + timedelta(seconds=self.delay_s(key, attempt))


class HttpSender(Protocol):
    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
        """POST ``body`` and return the HTTP status; raise OSError on network failure."""
        ...


def urllib_post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
    """POST with the standard library; HTTP error statuses are returned, network errors raised.

    Raises:
        OSError: connection refused, DNS failure, timeout (``urllib.error.URLError`` is an OSError).
    """
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - scheme checked
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
