"""The same service on PostgreSQL: migrations, a whole refill, concurrent bookings, one scheduler."""

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, select

from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import current_revision, head_revision, upgrade
from pump_service.persistence.schedule_models import Appointment
from pump_service.scheduler import RefillScheduler
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from simulators.clock import ManualClock
from tests.support import T0, fudr_refill

pytestmark = pytest.mark.postgres
ACTOR = Actor(user="nurse-1", station_id="pg-station")


@pytest.fixture
def pg_settings(postgres_server: str) -> Iterator[Settings]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_server).set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield Settings(database_url=f"{postgres_server}/{name}", station_id="pg-station", clinic_tz="America/New_York")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def pg_engine(pg_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(pg_settings.database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _hai_pumps(engine: Engine, count: int) -> None:
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=ACTOR, now=T0)
        for i in range(count):
            body = {"serial": f"HAI-{i}", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
            register_pump(session, PumpRegistration.model_validate(body), actor=ACTOR, now=T0)


def test_migrations_reach_head_and_match_the_models_on_postgresql(pg_engine: Engine) -> None:
    assert current_revision(pg_engine) == head_revision()
    with pg_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


def test_a_refill_visit_records_books_and_bills_on_postgresql(pg_engine: Engine, pg_settings: Settings) -> None:
    _hai_pumps(pg_engine, 1)
    entry = RefillEntry.model_validate(fudr_refill(T0, idempotency_key="pg-visit-0001"))
    clock = ManualClock(T0 + timedelta(minutes=5))
    first = complete_visit(pg_engine, "HAI-0", entry, settings=pg_settings, clock=clock, actor=ACTOR)
    again = complete_visit(pg_engine, "HAI-0", entry, settings=pg_settings, clock=clock, actor=ACTOR)
    assert (first.replayed, again.replayed) == (False, True)
    assert first.next_due_at == T0 + timedelta(days=14)
    assert first.performed_at.tzinfo is not None
    with transaction(pg_engine) as session:
        codes = sorted(row.code for row in session.exec(select(ChargeEventRow)).all())
        booked = session.exec(select(Appointment)).one()
    assert "96522" in codes
    assert booked.starts_at.utcoffset() == timedelta(0)


def test_concurrent_bookings_never_share_a_slot(pg_engine: Engine, pg_settings: Settings) -> None:
    count = 12
    _hai_pumps(pg_engine, count)
    settings = pg_settings.model_copy(update={"clinic_capacity_per_day": 4})
    errors: list[BaseException] = []

    def refill(i: int) -> None:
        try:
            entry = RefillEntry.model_validate(fudr_refill(T0, idempotency_key=f"pg-race-{i:04d}"))
            complete_visit(pg_engine, f"HAI-{i}", entry, settings=settings, clock=ManualClock(T0), actor=ACTOR)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refill, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with transaction(pg_engine) as session:
        booked = session.exec(select(Appointment).where(Appointment.status == "booked")).all()
    slots = Counter((a.local_day, a.slot_index) for a in booked)
    assert len(booked) == count
    assert max(slots.values()) == 1
    assert max(Counter(a.local_day for a in booked).values()) <= 4


def test_only_one_scheduler_runs_per_postgresql_database(pg_engine: Engine, pg_settings: Settings) -> None:
    clock = ManualClock(T0)
    first = RefillScheduler(pg_engine, pg_settings, clock, interval_s=60)
    second = RefillScheduler(pg_engine, pg_settings, clock, interval_s=60)
    assert first.start()
    try:
        assert not second.start()
    finally:
        first.shutdown()
    assert second.start()
    second.shutdown()
