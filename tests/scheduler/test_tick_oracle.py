"""Over random bookings, moves, closings, forecasts, batteries, reminder-day changes and ticks, the
indexed tick decides exactly what the old full scan decided (kept here as the oracle)."""

import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, select

from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic, Notification
from pump_service.scheduler import RefillScheduler
from pump_service.settings import Settings
from simulators.clock import ManualClock
from tests.scheduler.rows import BASE, SLOT, add_clinic, add_pump, book

PUMPS = 3
Decided = tuple[str, str, str, datetime]  # key, status, message, trigger_at


def _oracle(session: Session, settings: Settings, now: datetime) -> set[Decided]:
    """What the full-scan tick (before the due column) decided at ``now``: every booked appointment looked at."""
    decided: set[Decided] = set()
    taken = set(session.exec(select(Notification.key)).all())
    pumps = {p.id: p for p in session.exec(select(Pump)).all()}
    clinics = {c.id: c for c in session.exec(select(Clinic)).all()}
    grace = timedelta(hours=settings.overdue_grace_hours)

    def take(key: str, status: str, message: str, trigger_at: datetime) -> None:
        if key not in taken:
            taken.add(key)
            decided.add((key, status, message, trigger_at))

    for a in session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED)).all():
        pump, clinic = pumps[a.pump_id], clinics[a.clinic_id]
        for days in clinic.reminder_days or settings.reminder_days:
            trigger = a.starts_at - timedelta(days=days)
            if trigger <= now:
                when = a.starts_at.astimezone(clinic_zone_of(clinic)).strftime("%Y-%m-%d %H:%M")
                status = "open" if now < a.starts_at else "expired"
                take(f"reminder:{a.id}:{days}d", status, f"pump {pump.serial}: refill appointment {when} "
                     f"(reminder {days} d before)", trigger)  # fmt: skip
        if a.ends_at + grace <= now:
            take(f"overdue:{a.id}", "open", f"pump {pump.serial}: refill appointment passed without a recorded refill",
                 a.ends_at + grace)  # fmt: skip
        if pump.alarm_at is not None and a.starts_at > pump.alarm_at:
            take(f"alarm-before:{a.id}", "open", f"pump {pump.serial}: forecast low reservoir "
                 f"{pump.alarm_at.isoformat()} before the appointment", now)  # fmt: skip
    for pump in pumps.values():
        if pump.battery_state in {"ERI", "EOS"}:
            take(f"battery:{pump.id}:{pump.battery_state}", "open",
                 f"pump {pump.serial}: battery {pump.battery_state}; plan the replacement", now)  # fmt: skip
    return decided


def clinic_zone_of(clinic: Clinic) -> ZoneInfo:
    return ZoneInfo(clinic.timezone)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database holding a clinic and three pumps, copied for every example."""
    path = tmp_path_factory.mktemp("oracle") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with transaction(engine) as session:
        clinic = add_clinic(session)
        for number in range(1, PUMPS + 1):
            add_pump(session, clinic, number)
    engine.dispose()
    return path


hours = st.integers(min_value=-72, max_value=24 * 20)
booking = st.tuples(st.just("book"), st.integers(1, PUMPS), hours)
moving = st.tuples(st.just("move"), st.integers(0, 5), hours)
ticking = st.tuples(st.just("tick"), st.integers(0, 72), st.none())
operations = st.lists(
    st.one_of(
        booking,
        moving,
        ticking,
        booking,
        moving,
        ticking,
        st.tuples(st.just("close"), st.integers(0, 5), st.sampled_from(list(AppointmentStatus))),
        st.tuples(st.just("alarm"), st.integers(1, PUMPS), st.none() | hours),
        st.tuples(st.just("battery"), st.integers(1, PUMPS), st.sampled_from([None, "OK", "ERI", "EOS"])),
        st.tuples(st.just("reminders"), st.lists(st.integers(0, 14), max_size=3), st.none()),
    ),
    min_size=5,
    max_size=40,
)


def _apply(engine: Engine, step: tuple[Any, ...], booked: list[int]) -> None:
    kind, target, value = step
    with transaction(engine) as session:
        if kind == "book":
            pump = session.get(Pump, target)
            assert pump is not None
            booked.append(book(session, pump, BASE + timedelta(hours=value)).id or 0)
        elif kind in ("move", "close") and booked:
            appointment = session.get(Appointment, booked[target % len(booked)])
            assert appointment is not None
            if kind == "move":
                appointment.starts_at = BASE + timedelta(hours=value)
                appointment.ends_at = appointment.starts_at + SLOT
            else:
                appointment.status = value
            session.add(appointment)
        elif kind in ("alarm", "battery"):
            pump = session.get(Pump, target)
            assert pump is not None
            if kind == "alarm":
                pump.alarm_at = None if value is None else BASE + timedelta(hours=value)
            else:
                pump.battery_state = value
            session.add(pump)
        elif kind == "reminders":
            clinic = session.exec(select(Clinic)).one()
            clinic.reminder_days = sorted(set(target), reverse=True)
            session.add(clinic)


@hypothesis_settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations)
@example(steps=[("book", 1, 240), ("tick", 0, None), ("move", 0, 24), ("tick", 1, None)])  # moved earlier
@example(steps=[("book", 1, 240), ("alarm", 1, 120), ("tick", 0, None), ("alarm", 1, None), ("tick", 1, None)])
def test_the_indexed_tick_decides_what_the_full_scan_decided(template: Path, steps: list[tuple[Any, ...]]) -> None:
    folder = Path(tempfile.mkdtemp())
    engine = make_engine(f"sqlite:///{folder / 'o.db'}")
    shutil.copyfile(template, folder / "o.db")
    settings = Settings(database_url=f"sqlite:///{folder / 'o.db'}", station_id="test-station")
    clock = ManualClock(BASE - timedelta(days=2))
    booked: list[int] = []
    try:
        for step in [*steps, ("tick", 24 * 50, None)]:
            if step[0] != "tick":
                _apply(engine, step, booked)
                continue
            clock.advance(timedelta(hours=step[1]))
            with transaction(engine) as session:
                expected = _oracle(session, settings, clock.now())
                before = set(session.exec(select(Notification.key)).all())
            report = RefillScheduler(engine, settings, clock).tick()
            with transaction(engine) as session:
                rows = session.exec(select(Notification)).all()
            new = {(n.key, n.status.value, n.message, n.trigger_at) for n in rows if n.key not in before}
            assert new == expected
            assert report.total == len(expected)
    finally:
        engine.dispose()
        shutil.rmtree(folder)
