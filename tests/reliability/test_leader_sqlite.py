"""Two ``pump-service serve`` processes on one SQLite file: only one ticks, the other takes over on kill -9."""

from pathlib import Path

from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import upgrade
from tests.reliability.leader_drill import TAKEOVER_TIMEOUT_S, add_due_items, servers, tally, wait_for


def test_two_processes_on_one_sqlite_file_tick_once_and_hand_over_on_kill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/pump.db"
    engine = make_engine(url)
    upgrade(engine)
    try:
        with servers(url, ["alpha", "beta"], tmp_path, {}) as (alpha, beta):
            assert alpha.leads()
            assert not beta.leads()
            assert (beta.health() or {}).get("leader_instance") == "alpha"  # read from the lock file
            add_due_items(engine, 200)
            wait_for(lambda: tally(engine).notifications == 200, timeout_s=60, what="alpha to decide the items")
            wait_for(lambda: beta.metric("pump_scheduler_tick_duration_seconds_count") == 0 and
                     alpha.metric("pump_scheduler_tick_duration_seconds_count") >= 2, timeout_s=30,
                     what="alpha to tick again")  # fmt: skip
            assert beta.metric("pump_scheduler_tick_duration_seconds_count") == 0  # the follower never ticked
            assert alpha.metric('pump_scheduler_due_decided_total{kind="reminder"}') == 200
            alpha.kill9()  # the kernel drops its flock
            wait_for(beta.leads, timeout_s=TAKEOVER_TIMEOUT_S, what="beta to take over")
            add_due_items(engine, 50, first=200)
            wait_for(lambda: tally(engine).notifications == 250, timeout_s=60, what="beta to decide the new items")
            decided_by_beta = beta.metric('pump_scheduler_due_decided_total{kind="reminder"}')
        final = tally(engine)
    finally:
        engine.dispose()
    assert final.notifications == final.distinct_keys == 250
    assert decided_by_beta == 50
