"""Drills: several ``pump-service serve`` processes on one database, one scheduler leader, takeovers.

On a real throwaway PostgreSQL: kill -9 of the leader while it works through 1,000 due items (the
other instance takes over; every item decided once, every delivery row once, no webhook call
twice), a leader whose lock connection is terminated (``pg_terminate_backend``) steps down while
the other takes over, and after a PostgreSQL restart exactly one instance leads again. The longer
variant (several kills in a row) is marked ``soak``.
"""

import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from pump_service.scheduler.leader import APPLICATION_NAME_PREFIX
from pump_service.services.scheduling.delivery_claims import DEFAULT_CLAIM_S
from testbench.throwaway_postgres import PG_BIN
from tests.reliability.leader_drill import (
    CLOCK,
    TAKEOVER_TIMEOUT_S,
    Tally,
    add_due_items,
    fresh_database,
    servers,
    start_server,
    tally,
    terminate_sessions,
    wait_for,
    webhook_receiver,
)

pytestmark = pytest.mark.postgres
log = logging.getLogger(__name__)

ITEMS = 1_000
BATCH = 100  # rows one dispatch step claims (services/scheduling/delivery.py)
SETTLE_TIMEOUT_S = 180.0


@pytest.fixture
def database(restartable_postgres: str) -> Iterator[tuple[str, Engine]]:
    """A fresh, migrated database: its URL and an engine for the test's own reads and writes."""
    with fresh_database(restartable_postgres) as created:
        yield created


def _dead_claims(t: Tally, killed_at: datetime) -> int:
    """Claims taken before ``killed_at`` (by the killed leader): a live one's run out later."""
    return sum(1 for end in t.claim_ends if end <= killed_at + timedelta(seconds=DEFAULT_CLAIM_S))


def _settled(engine: Engine, items: int, killed_at: datetime) -> bool:
    """Every item decided, each delivery delivered or held by the claim of a dispatcher killed by then."""
    t = tally(engine)
    return t.notifications == items and t.deliveries == items and t.delivered + _dead_claims(t, killed_at) == items


def test_kill_9_of_the_leader_mid_tick_hands_every_item_over_exactly_once(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    with (
        webhook_receiver() as (hook, receiver),
        servers(url, ["alpha", "beta"], tmp_path, {"PUMP_NOTIFY_WEBHOOK_URL": hook}) as (alpha, beta),
    ):
        assert alpha.leads()
        assert not beta.leads()
        assert (beta.health() or {}).get("leader_instance") == "alpha"
        add_due_items(engine, ITEMS)
        wait_for(lambda: receiver.count() >= ITEMS * 3 // 10, timeout_s=120, what="alpha to send 30% of the items")
        killed_at = CLOCK.now()
        alpha.kill9()
        sent_by_alpha = receiver.count()
        took_s = wait_for(beta.leads, timeout_s=TAKEOVER_TIMEOUT_S, what="beta to take over")
        wait_for(lambda: _settled(engine, ITEMS, killed_at), timeout_s=SETTLE_TIMEOUT_S, what="beta to send the rest")
        final = tally(engine)
        leader_gauge = beta.metric("pump_scheduler_leader")
    log.info("kill -9 after %d of %d sent; beta took over in %.2f s; %d claimed by alpha when it died",
             sent_by_alpha, ITEMS, took_s, final.claimed)  # fmt: skip
    assert sent_by_alpha < ITEMS  # the kill landed while the leader was still working
    assert final.notifications == final.distinct_keys == ITEMS  # each decision recorded once
    assert final.deliveries == ITEMS
    assert final.deliveries_per_notification == 1
    assert receiver.repeats() == {}  # no webhook call twice, across the takeover
    assert final.delivered_keys <= set(receiver.keys)
    assert final.claimed == _dead_claims(final, killed_at) <= BATCH  # alpha's last batch, resent when the claim ends
    assert leader_gauge == 1


def test_a_leader_that_loses_its_lock_connection_steps_down_and_one_instance_leads_after_a_restart(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    with servers(url, ["alpha", "beta"], tmp_path, {}) as (alpha, beta):
        assert alpha.leads()
        assert terminate_sessions(url, APPLICATION_NAME_PREFIX + "alpha") == 1
        took_s = wait_for(beta.leads, timeout_s=TAKEOVER_TIMEOUT_S, what="beta to take over")
        wait_for(lambda: not alpha.leads(), timeout_s=TAKEOVER_TIMEOUT_S, what="alpha to step down")
        assert (alpha.health() or {}).get("leader_instance") == "beta"
        add_due_items(engine, 200)
        wait_for(lambda: tally(engine).notifications == 200, timeout_s=60, what="beta to decide the items")
        lost = alpha.metric('pump_errors_total{kind="leadership_lost"}')
        alpha_ticks = alpha.metric("pump_scheduler_tick_duration_seconds_count")
        beta_ticks = beta.metric("pump_scheduler_tick_duration_seconds_count")
        decided_by_beta = beta.metric('pump_scheduler_due_decided_total{kind="reminder"}')
        lost_by_beta = beta.metric('pump_errors_total{kind="leadership_lost"}')
        _restart_postgres(url)  # every session ends: beta's lock goes with the server
        engine.dispose()  # the test's own pooled connections died too
        # beta may still answer "leader" until its next lock check: wait for it to notice first,
        # or the one-leader wait below passes on its stale answer
        wait_for(lambda: beta.metric('pump_errors_total{kind="leadership_lost"}') > lost_by_beta,
                 timeout_s=TAKEOVER_TIMEOUT_S, what="beta to notice that its lock went with the server")  # fmt: skip
        wait_for(lambda: [alpha.leads(), beta.leads()].count(True) == 1, timeout_s=TAKEOVER_TIMEOUT_S,
                 what="one instance to lead again after the restart")  # fmt: skip
        lost_in_restart = beta.metric('pump_errors_total{kind="leadership_lost"}') - lost_by_beta
        add_due_items(engine, 100, first=200)
        wait_for(lambda: tally(engine).notifications == 300, timeout_s=60, what="the new leader to decide the items")
        leaders = [alpha.leads(), beta.leads()].count(True)
    log.info("pg_terminate_backend: beta took over in %.2f s", took_s)
    final = tally(engine)
    assert final.notifications == final.distinct_keys == 300
    assert lost_in_restart == 1  # beta noticed that its lock went with the server
    assert leaders == 1
    assert lost == 1
    assert decided_by_beta == 200
    assert beta_ticks > 0
    assert alpha_ticks >= 1  # its catch-up tick as the first leader, before it lost the lock


@pytest.mark.soak
def test_several_kills_in_a_row_lose_and_repeat_nothing(database: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = database
    rounds, per_round = 6, 300
    env: dict[str, str] = {}
    with webhook_receiver() as (hook, receiver):
        env["PUMP_NOTIFY_WEBHOOK_URL"] = hook
        running = [start_server(url, "i0", tmp_path, env), start_server(url, "i1", tmp_path, env)]
        try:
            for number in range(rounds):
                leader = next(s for s in running if s.leads())
                add_due_items(engine, per_round, first=number * per_round)
                target = receiver.count() + per_round // 3
                wait_for(lambda t=target: receiver.count() >= t, timeout_s=120, what="some sends")  # type: ignore[misc]
                killed_at = CLOCK.now()
                leader.kill9()
                running.remove(leader)
                running.append(start_server(url, f"i{number + 2}", tmp_path, env))
                wait_for(lambda: any(s.leads() for s in running), timeout_s=TAKEOVER_TIMEOUT_S, what="a new leader")
            total = rounds * per_round
            wait_for(lambda: _settled(engine, total, killed_at), timeout_s=SETTLE_TIMEOUT_S, what="the rest sent")
        finally:
            for server in running:
                server.stop()
    final = tally(engine)
    assert final.notifications == final.distinct_keys == total
    assert final.deliveries == total
    assert final.deliveries_per_notification == 1
    assert receiver.repeats() == {}
    assert final.claimed == _dead_claims(final, killed_at) <= rounds * BATCH


def _restart_postgres(database_url: str) -> None:
    """``pg_ctl restart -m fast``: every session ends, the leader's lock with it; same options, same port."""
    with psycopg.connect(
        make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    ) as c:
        row = c.execute("SHOW data_directory").fetchone()
    assert row is not None
    data = Path(str(row[0]))
    # -l: the server's output to its log file (the throwaway server's), not to our pipes, which it would hold open
    command = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data.parent / "log"), "-m", "fast", "-w", "restart"]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
