"""The tick costs what is due, not what is stored; its read phase never blocks a writer."""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

import pump_service.scheduler.runner as runner
from pump_service.persistence.db import make_engine, read_transaction, transaction
from pump_service.persistence.migrate import downgrade, upgrade
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Notification
from pump_service.scheduler import RefillScheduler
from pump_service.services.scheduling.notifications import DuePlan, find_due, next_decision_time
from pump_service.settings import Settings
from simulators.clock import ManualClock
from tests.scheduler.rows import BASE, clinic_of_booked_pumps

DUE = 3
VM_STEPS = 100  # SQLite virtual-machine instructions per progress callback


def _starts(pumps: int) -> list[datetime]:
    """DUE appointments tomorrow (both reminders due at BASE), the others 10 to 90 days ahead."""
    soon = [BASE + timedelta(hours=12 + i) for i in range(DUE)]
    later = [BASE + timedelta(days=10) + timedelta(days=80) * i / pumps for i in range(pumps - DUE)]
    return soon + later


@contextmanager
def _counted(engine: Engine) -> Iterator[dict[str, int]]:
    """Statements run and SQLite VM instructions executed on ``engine``'s connections meanwhile."""
    counts = {"statements": 0, "vm_steps": 0}

    def on_statement(*_args: Any) -> None:
        counts["statements"] += 1

    def step() -> int:
        counts["vm_steps"] += VM_STEPS
        return 0

    def on_checkout(dbapi_conn: Any, *_args: Any) -> None:
        dbapi_conn.set_progress_handler(step, VM_STEPS)

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine.pool, "checkout", on_checkout)


def _tick_cost(tmp_path: Path, pumps: int) -> tuple[dict[str, int], int]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t{pumps}.db", station_id="test-station")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        clinic_of_booked_pumps(engine, _starts(pumps))
        engine.dispose()  # fresh connections: the checkout hook sees them
        with _counted(engine) as counts:
            report = RefillScheduler(engine, settings, ManualClock(BASE)).tick()
        return counts, report.total
    finally:
        engine.dispose()


def test_a_tick_reads_the_due_items_not_every_pump(tmp_path: Path) -> None:
    small, small_decided = _tick_cost(tmp_path, 200)
    large, large_decided = _tick_cost(tmp_path, 2_000)
    assert small_decided == large_decided == 2 * DUE  # the 7-day and the 1-day reminder of each
    assert small["statements"] == large["statements"]
    # A scan of the pumps or the appointments would cost ten times as much at 2,000 as at 200;
    # index searches grow by a B-tree level at most.
    assert large["vm_steps"] <= small["vm_steps"] * 1.2 + 2_000


def test_the_candidates_are_the_due_appointments_only(engine: Engine, settings: Settings) -> None:
    ids = clinic_of_booked_pumps(engine, _starts(50))
    with read_transaction(engine) as session:
        plan = find_due(session, settings=settings, now=BASE)
        first = next_decision_time(session)
    assert sorted(item.appointment_id for item in plan.appointments) == sorted(ids[:DUE])
    assert first is not None
    assert first <= BASE


def _held_tick(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make the next tick stop inside its read phase until ``release`` is set."""
    in_read, release = threading.Event(), threading.Event()
    real = find_due

    def held(session: Session, **kwargs: Any) -> DuePlan:
        plan = real(session, **kwargs)
        if not in_read.is_set():
            in_read.set()
            release.wait(30)
        return plan

    monkeypatch.setattr(runner, "find_due", held)
    return in_read, release


def _run_in_thread(scheduler: RefillScheduler) -> tuple[threading.Thread, list[int]]:
    decided: list[int] = []
    thread = threading.Thread(target=lambda: decided.append(scheduler.tick().total))
    thread.start()
    return thread, decided


@pytest.mark.sqlite_only("a second sqlite3 connection takes the SQLite file's write lock at once")
def test_a_write_succeeds_while_the_tick_reads(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic_of_booked_pumps(engine, _starts(20))
    in_read, release = _held_tick(monkeypatch)
    thread, decided = _run_in_thread(RefillScheduler(engine, settings, ManualClock(BASE)))
    try:
        assert in_read.wait(30)
        # No busy wait: a writer that finds the write lock taken fails at once.
        other = sqlite3.connect(f"{tmp_path}/pump.db", timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE pump SET version = version + 1 WHERE id = 1")
            other.execute("COMMIT")
        finally:
            other.close()
    finally:
        release.set()
        thread.join(30)
    assert decided == [2 * DUE]


def test_a_change_between_the_phases_is_not_overruled(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = clinic_of_booked_pumps(engine, _starts(20))
    in_read, release = _held_tick(monkeypatch)
    thread, decided = _run_in_thread(RefillScheduler(engine, settings, ManualClock(BASE)))
    try:
        assert in_read.wait(30)
        with transaction(engine) as session:  # the first patient's visit is cancelled meanwhile
            appointment = session.get(Appointment, ids[0])
            assert appointment is not None
            appointment.status = AppointmentStatus.CANCELLED
            session.add(appointment)
        again = RefillScheduler(engine, settings, ManualClock(BASE)).tick()  # and another tick runs first
    finally:
        release.set()
        thread.join(30)
    assert again.total == 2 * (DUE - 1)
    assert decided == [0]  # everything it found was decided meanwhile, or is no longer booked
    with transaction(engine) as session:
        keys = sorted(session.exec(select(Notification.key)).all())
    assert keys == sorted(f"reminder:{i}:{d}d" for i in ids[1:DUE] for d in (7, 1))


def test_late_ticks_after_downtime_decide_each_item_once(engine: Engine, settings: Settings) -> None:
    ids = clinic_of_booked_pumps(engine, _starts(10))
    scheduler = RefillScheduler(engine, settings, ManualClock(BASE - timedelta(days=30)))
    assert scheduler.tick().total == 0
    late = ManualClock(BASE + timedelta(days=2))  # down for a month: the first visits have passed
    first = RefillScheduler(engine, settings, late).tick()
    second = RefillScheduler(engine, settings, late).tick()
    assert dict(first.created) == {"reminder": 2 * DUE, "overdue": DUE}
    assert second.total == 0
    with transaction(engine) as session:
        rows = session.exec(select(Notification)).all()
        remaining = [session.get(Appointment, i) for i in ids[:DUE]]
    assert len({row.key for row in rows}) == len(rows) == 3 * DUE
    assert {row.status for row in rows if row.kind == "reminder"} == {"expired"}
    assert [a.next_decision_at for a in remaining if a is not None] == [None] * DUE


def test_the_migration_fills_the_due_column_and_downgrades(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/m.db", station_id="test-station")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        ids = clinic_of_booked_pumps(engine, _starts(10))
        with transaction(engine) as session:
            expected = {i: session.get(Appointment, i) for i in ids}
            hooked = {i: a.next_decision_at for i, a in expected.items() if a is not None}
        downgrade(engine, "cosign_0010")
        upgrade(engine)
        with transaction(engine) as session:
            filled = {a.id: a.next_decision_at for a in session.exec(select(Appointment)).all()}
        assert filled == hooked  # no reminder recorded yet: the earliest one, as the hook sets it
        assert RefillScheduler(engine, settings, ManualClock(BASE)).tick().total == 2 * DUE
    finally:
        engine.dispose()
