"""The whole bench at smoke sizes (``python -m bench --smoke``): every suite still runs and reports.

A full ``make bench`` takes over an hour, so nothing else runs the suites and a broken one went
unnoticed before. This runs every suite in SUITES as ``make bench`` would, in a subprocess, at
the tiny sizes of bench/sizes.py. The figures mean nothing and no timing is asserted; what is
checked is that the run exits 0 (the suites' self-checks raise), that every suite reported, and
that the figures other documents quote (docs/performance.md) keep their names.
"""

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import SMOKE_BANNER, SUITES
from testbench.throwaway_postgres import unavailable_reason

pytestmark = [
    pytest.mark.slow,
    pytest.mark.pty,  # bench.link talks over a real pty
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bench needs Linux ptys and /proc"),
]

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 600  # a hung suite fails the test instead of stalling the suite; the run takes ~30-60 s
REQUIRED = (
    "clinic_year.wall_s",
    "clinic_year.dry_pumps",
    "clinic_year.alarms_before_refill",
    "tick_100k.s",
    "tick_100k.ratio_vs_sql",
    "ingest.ratio_vs_executemany",
    "refill_visit.ratio_vs_replay",
    "refill_visit_10k_bookings.ratio_vs_empty",
    "api_refill_c20_sqlite.p99_ms",
    "api_refill_c20_sqlite.errors",
    "fleet_conditions.pump_days_per_s",
    "server_100k_pumps.rss_mib",
)
# bench.load measures PostgreSQL only; bench.api's PostgreSQL figures likewise need the server.
POSTGRES_SUITES = ("bench.load",)
POSTGRES_REASON = unavailable_reason()


class SmokeRun:
    """What one ``python -m bench --smoke`` printed and wrote."""

    def __init__(self, completed: "subprocess.CompletedProcess[str]", figures: list[dict[str, Any]], table: str):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.figures = figures
        self.table = table


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    tmp = tmp_path_factory.mktemp("bench-smoke")
    output, markdown = tmp / "results.json", tmp / "results.md"
    command = [sys.executable, "-m", "bench", "--smoke", "--output", str(output), "--markdown", str(markdown)]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    figures = json.loads(output.read_text()) if output.exists() else []
    table = markdown.read_text() if markdown.exists() else ""
    return SmokeRun(completed, figures, table)


def test_the_smoke_bench_exits_cleanly(smoke: SmokeRun) -> None:
    # A crashed suite or a failed self-check (RuntimeError) is a non-zero exit.
    assert smoke.returncode == 0, f"python -m bench --smoke exited {smoke.returncode}:\n{smoke.stderr[-4000:]}"


def test_every_suite_reports_figures(smoke: SmokeRun) -> None:
    reported = {figure["suite"] for figure in smoke.figures}
    if POSTGRES_REASON is None:
        assert reported == set(SUITES)
        assert "api_refill_c20_postgresql.errors" in {figure["name"] for figure in smoke.figures}
    else:
        # Left out only where no PostgreSQL 15 can start here; the suite must then say it skipped.
        assert reported == set(SUITES) - set(POSTGRES_SUITES), POSTGRES_REASON
        assert "load: PostgreSQL figures skipped" in smoke.stdout


def test_the_figures_other_documents_quote_keep_their_names(smoke: SmokeRun) -> None:
    names = [figure["name"] for figure in smoke.figures]
    assert [name for name in REQUIRED if name not in names] == []
    assert len(names) == len(set(names))  # no figure reported twice


def test_every_value_is_a_finite_number(smoke: SmokeRun) -> None:
    assert smoke.figures
    bad = [f for f in smoke.figures if not isinstance(f["value"], int | float) or not math.isfinite(f["value"])]
    assert bad == []


def test_the_results_say_they_are_a_smoke_run(smoke: SmokeRun) -> None:
    assert smoke.figures
    assert all(figure["smoke"] is True for figure in smoke.figures)
    assert smoke.table.startswith(f"**{SMOKE_BANNER}.**")
    assert smoke.stdout.startswith(SMOKE_BANNER)
