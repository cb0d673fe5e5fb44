"""Full or smoke sizes: each suite names its sizes once, ``NAME = sized(full, smoke)``.

A smoke run (``python -m bench --smoke``, or ``PUMP_BENCH_SMOKE=1``) runs every suite's code
paths at tiny sizes, so a broken suite shows up in ``make test`` (tests/bench) instead of an
hour into ``make bench``. Its figures mean nothing as measurements. The sizes are module
constants, read when a suite is imported: ``--smoke`` sets the variable before any suite is.
"""

import os
from typing import TypeVar

__all__ = ["SMOKE_ENV", "is_smoke", "sized"]

SMOKE_ENV = "PUMP_BENCH_SMOKE"
_T = TypeVar("_T")


def is_smoke() -> bool:
    """Whether this process runs the suites at smoke sizes (``PUMP_BENCH_SMOKE`` set, not ``0``)."""
    return os.environ.get(SMOKE_ENV, "").strip() not in ("", "0")


def sized(full: _T, smoke: _T) -> _T:
    """``full`` in a real run (what ``make bench`` measures), ``smoke`` in a smoke run."""
    return smoke if is_smoke() else full
