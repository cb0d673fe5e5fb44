"""Benchmarks: ``make bench`` runs every suite here and writes ``bench/results.json``.

Each suite is a module with a ``run() -> list[Result]`` function. Figures are wall-clock
measurements on whatever machine runs them; they are reported in issue notes, never asserted
in tests.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Result", "best_rate"]


@dataclass(frozen=True, slots=True)
class Result:
    """One figure: ``{"name", "value", "unit", "higher_is_better"}`` in results.json."""

    name: str
    value: float
    unit: str
    higher_is_better: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def best_rate(work: Callable[[], int], *, repeats: int = 5) -> float:
    """Operations per second of ``work`` (which returns how many it did), best of ``repeats``.

    The best run is the one least disturbed by the rest of the machine.
    """
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        done = work()
        elapsed = time.perf_counter() - start
        best = max(best, done / elapsed if elapsed > 0 else float("inf"))
    return best
