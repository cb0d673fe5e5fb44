"""Issue 13's fault drill: a clinic soak in virtual time with kill -9s, link faults and database restarts.

The driver (this process) owns the pumps, the programmer (on TCP, with frame errors, dropped
answers and unplugs) and the virtual clock; the service runs in a worker process it SIGKILLs
mid-command and at ``PUMP_CRASH_AT`` points, restarting it and resending the same command; on
PostgreSQL the server is also stopped for a moment during visits. Each kind of fault is forced
once on the first programmable visits and more are drawn at random. Afterwards: 0 lost, 0
duplicated, 0 stuck visits (``testbench/soak_checks.py``), and the faults really happened. The
short variants run in ``make test``; the long ones under ``make soak``.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from schemas.clock import SystemClock
from testbench.soak import SoakConfig, SoakRun, run_soak
from testbench.soak_checks import SoakVerdict, judge_soak
from tests.reliability.leader_drill import admin_dsn, fresh_database
from tests.reliability.test_pg_restart import PostgresControl

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)
OUTAGE_S = 0.5

# The short runs: every kind of fault is forced once on the first programmable visits (a SIGKILL
# mid-command, each crash point, an unplug, a database restart), and more are drawn at random.
SHORT_BASE = SoakConfig(
    days=14,
    programmable=4,
    constant_flow=2,
    tick_hours=12,
    kill_rate=0.15,
    crash_rate=0.1,
    unplug_rate=0.15,
    kill_window_s=0.8,
    frame_error_rate=0.02,  # each lost or damaged answer waits out HPP/1's 3 s timeout: a few suffice
    drop_response_rate=0.02,
)
SHORT = replace(SHORT_BASE, seed=13)
SHORT_POSTGRES = replace(SHORT_BASE, seed=14, db_restart_rate=0.1)
LONG = SoakConfig(days=60, programmable=70, constant_flow=30, seed=1013, kill_rate=0.1, crash_rate=0.1)
LONG_POSTGRES = SoakConfig(
    days=60, programmable=70, constant_flow=30, seed=1014, kill_rate=0.1, crash_rate=0.1, db_restart_rate=0.03
)


@pytest.fixture
def postgres_url(restartable_postgres: str) -> Iterator[str]:
    with fresh_database(restartable_postgres) as (url, engine):
        engine.dispose()  # the drill's restarts would break its pooled connections
        yield url


def _restarter(base: str) -> Callable[[], None]:
    """Stop the throwaway server (``-m fast``: every session ends), keep it down a moment, start it again."""
    control = PostgresControl(admin_dsn(base))

    def restart() -> None:
        control.stop()
        SystemClock().sleep(OUTAGE_S)  # a real outage, so real time: the visit under way meets it
        control.start()

    return restart


def _report(run: SoakRun, verdict: SoakVerdict, backend: str) -> str:
    t = run.tally
    injected = run.programmer.faults.injected
    link = injected.corrupted_in_frames + injected.corrupted_out_frames + injected.dropped_responses + t.unplugs
    days = (run.end_at - run.first_event_at).total_seconds() / 86_400
    return (
        f"soak on {backend}, seed {run.config.seed}: {days:.1f} virtual days, {len(run.acknowledged)} visits,"
        f" {run.ticks} ticks, {t.attempts} attempts for {sum(t.commands.values())} commands;"
        f" kills {t.kills} + crash points {t.crash_kills}, database restarts {t.db_restarts}, link faults {link}"
        f" (corrupted {injected.corrupted_in_frames}+{injected.corrupted_out_frames},"
        f" dropped answers {injected.dropped_responses}, unplugs {t.unplugs}); retried answers {dict(t.failures)},"
        f" overrides {t.overrides}, refused {len(t.refused)}; stored {verdict.refills} refills,"
        f" {verdict.charge_events} charge events, visits {dict(verdict.visits_by_state)},"
        f" {verdict.device_log_rows} log rows, {verdict.notifications} notifications, {verdict.replayed} replayed;"
        f" {run.wall_s:.1f} s"
    )


def _drill(config: SoakConfig, url: str, tmp_path: Path, restart: Callable[[], None] | None = None) -> None:
    worker_log = tmp_path / "worker.log"
    run = run_soak(config, url, log_path=worker_log, restart_database=restart)
    verdict = judge_soak(run, url, log_path=worker_log)
    report = _report(run, verdict, make_url(url).get_backend_name())
    log.warning(report)
    assert verdict.problems == [], report
    assert run.tally.refused == [], report  # no pump faults in the drill: every visit is recorded
    assert len(run.acknowledged) > config.programmable + config.constant_flow, report  # booked visits came too
    assert run.tally.kills > 0, report  # the faults happened: SIGKILLs mid-command,
    assert run.tally.crash_kills > 0, report  # deaths at crash points,
    injected = run.programmer.faults.injected
    # flipped frames or lost answers (drawn per frame: a dozen expected, so never none),
    assert injected.corrupted_in_frames + injected.corrupted_out_frames + injected.dropped_responses > 0, report
    assert run.tally.unplugs > 0, report  # pulled cables,
    if restart is not None:  # and database restarts (whether a request meets one is timing: the pool
        assert run.tally.db_restarts > 0, report  # reconnects; test_pg_restart.py proves the 503s)
    assert verdict.replayed == len(run.acknowledged), report


def test_soak_short_on_sqlite(tmp_path: Path) -> None:
    _drill(SHORT, f"sqlite:///{tmp_path / 'soak.db'}", tmp_path)


@pytest.mark.postgres
def test_soak_short_on_postgres_with_restarts(restartable_postgres: str, postgres_url: str, tmp_path: Path) -> None:
    _drill(SHORT_POSTGRES, postgres_url, tmp_path, _restarter(restartable_postgres))


@pytest.mark.soak
def test_soak_long_on_sqlite(tmp_path: Path) -> None:
    _drill(LONG, f"sqlite:///{tmp_path / 'soak.db'}", tmp_path)


@pytest.mark.soak
@pytest.mark.postgres
def test_soak_long_on_postgres_with_restarts(restartable_postgres: str, postgres_url: str, tmp_path: Path) -> None:
    _drill(LONG_POSTGRES, postgres_url, tmp_path, _restarter(restartable_postgres))
