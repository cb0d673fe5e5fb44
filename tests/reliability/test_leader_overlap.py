"""Two scheduler leaders overlapping for a moment on PostgreSQL: each side effect happens once.

A takeover can leave the old leader in the middle of a tick while the new one starts its own.
These tests hold the first one's transaction open at the point where it has written, start the
second, wait until PostgreSQL makes the second wait on the first's rows, then commit the first:
the second skips (``ON CONFLICT DO NOTHING``) or fails its claim (compare-and-set), without an error.
"""

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, func
from sqlalchemy.engine import make_url
from sqlmodel import select

from pump_service.persistence.db import read_transaction, transaction
from pump_service.persistence.notification_models import NotificationDelivery
from pump_service.persistence.schedule_models import Notification
from pump_service.services.actor import Actor
from pump_service.services.charges.dispatch import due_charges
from pump_service.services.scheduling.channels import WebhookChannel
from pump_service.services.scheduling.delivery import due_deliveries
from pump_service.services.scheduling.notifications import find_due, record_due
from pump_service.settings import Settings
from tests.charge_support import bill_refill, billed_body, register_hai
from tests.reliability.leader_drill import CLOCK, add_due_items, fresh_database, wait_for
from tests.support import T0

pytestmark = pytest.mark.postgres
ITEMS = 50
MAX_AGE = timedelta(hours=72)
UNUSED_HOOK = "http://127.0.0.1:9/hook"  # nothing is sent in these tests


@pytest.fixture
def database(postgres_server: str) -> Iterator[tuple[str, Engine]]:
    with fresh_database(postgres_server) as created:
        yield created


def _lock_waiters(database_url: str) -> int:
    url = make_url(database_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s", (url.database,)
        ).fetchone()
    return int(row[0]) if row else 0


def _overlap(engine: Engine, url: str, first: Callable[[Any], Any], second: Callable[[Any], Any]) -> tuple[Any, Any]:
    """Run ``first`` in a transaction left open until ``second`` (another transaction) waits on it."""
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run_second() -> None:
        try:
            with transaction(engine) as session:
                results["second"] = second(session)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_second)
    with transaction(engine) as session:
        results["first"] = first(session)
        thread.start()
        wait_for(lambda: _lock_waiters(url) >= 1, timeout_s=30, what="the second leader to wait on the first")
    thread.join(timeout=60)
    assert errors == []
    return results["first"], results["second"]


def test_two_leaders_recording_one_tick_at_once_record_each_decision_once(database: tuple[str, Engine]) -> None:
    url, engine = database
    add_due_items(engine, ITEMS)
    settings = Settings(database_url=url, station_id="drill")
    now = CLOCK.now()
    with read_transaction(engine) as session:
        plan_a = find_due(session, settings=settings, now=now)
    with read_transaction(engine) as session:
        plan_b = find_due(session, settings=settings, now=now)  # both found the items before either recorded
    first, second = _overlap(engine, url, lambda s: record_due(s, plan_a), lambda s: record_due(s, plan_b))
    assert (first.total, second.total) == (ITEMS, 0)
    with transaction(engine) as session:
        assert session.exec(select(func.count(func.distinct(Notification.key)))).one() == ITEMS
        assert session.exec(select(func.count()).select_from(Notification)).one() == ITEMS


def test_two_dispatchers_at_once_create_each_delivery_row_once(database: tuple[str, Engine]) -> None:
    url, engine = database
    add_due_items(engine, ITEMS)
    settings = Settings(database_url=url, station_id="drill")
    now = CLOCK.now()
    with transaction(engine) as session:
        assert record_due(session, find_due(session, settings=settings, now=now)).total == ITEMS
    channels = (WebhookChannel(UNUSED_HOOK),)

    def create_only(session: Any) -> int:
        return due_deliveries(session, channels, now=now, max_age=MAX_AGE, limit=0).created

    first, second = _overlap(engine, url, create_only, create_only)
    assert (first, second) == (ITEMS, 0)
    with transaction(engine) as session:
        assert session.exec(select(func.count()).select_from(NotificationDelivery)).one() == ITEMS


def test_two_dispatchers_at_once_claim_each_due_delivery_once(database: tuple[str, Engine]) -> None:
    url, engine = database
    add_due_items(engine, ITEMS)
    settings = Settings(database_url=url, station_id="drill")
    now = CLOCK.now()
    channels = (WebhookChannel(UNUSED_HOOK),)
    with transaction(engine) as session:
        record_due(session, find_due(session, settings=settings, now=now))
        assert due_deliveries(session, channels, now=now, max_age=MAX_AGE, limit=0).created == ITEMS

    def claim(session: Any) -> int:
        return len(due_deliveries(session, channels, now=now, max_age=MAX_AGE).deliveries)

    first, second = _overlap(engine, url, claim, claim)
    assert (first, second) == (ITEMS, 0)  # the second found them due, then lost every claim to the first


def test_two_dispatchers_at_once_claim_each_charge_visit_once(database: tuple[str, Engine]) -> None:
    url, engine = database
    settings = Settings(database_url=url, station_id="drill", clinic_tz="America/New_York")
    actor = Actor(user="nurse-1", station_id="drill")
    register_hai(engine, actor)
    events = len(bill_refill(engine, settings, actor, billed_body()).rows)
    at = T0 + timedelta(hours=1)

    def claim(session: Any) -> int:
        return len(due_charges(session, now=at).events)

    first, second = _overlap(engine, url, claim, claim)
    assert (first, second) == (events, 0)
    with transaction(engine) as session:  # the claim runs out: a dead dispatcher's events come back
        assert len(due_charges(session, now=at + timedelta(hours=1)).events) == events
