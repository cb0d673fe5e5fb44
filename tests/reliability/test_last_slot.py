"""The last free slots of a day, raced for by many stations at once: booked exactly once each.

Every racer's refill is recorded; the target day ends with exactly its capacity booked; the
others are booked on earlier days, or, once no slot before the due date is left, booked late
with an escalation (told, not dropped). Runs on SQLite (one writer at a time) and on a real
PostgreSQL, where bookings of different pumps run in parallel and claim their slots with
short advisory locks (services/scheduling/slot_claims.py).
"""

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, func
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Refill
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Notification
from pump_service.services.actor import Actor, acting_as
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from simulators.clock import ManualClock
from testbench.throwaway_postgres import PostgresUnavailableError, throwaway_postgres
from tests.support import T0, fudr_refill

ACTOR = Actor(user="nurse-race", station_id="race-station")
RACERS = 12


@pytest.fixture(scope="module")
def postgres_base() -> Iterator[str]:
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('race')}/pump.db"
        return
    base = request.getfixturevalue("postgres_base")
    name = f"race_{uuid.uuid4().hex[:10]}"
    admin = make_url(base).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def race_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _race(engine: Engine, settings: Settings) -> list[BaseException]:
    """Every racer records its pump's refill at the same moment (same due day), all released together."""
    with acting_as(ACTOR), transaction(engine) as session:
        default_clinic(session, settings, now=T0)  # the clinic's calendar comes from ``settings``
        for i in range(RACERS):
            register_patient(session, PatientEntry(patient_ref=f"P-R{i}", body_mass_kg=70.0), actor=ACTOR, now=T0)
            body = {
                "serial": f"HAI-R{i:02d}",
                "model_id": "hai-30",
                "route": "intra_arterial",
                "patient_ref": f"P-R{i}",
            }
            register_pump(session, PumpRegistration.model_validate(body), actor=ACTOR, now=T0)
    start = threading.Barrier(RACERS)
    errors: list[BaseException] = []

    def refill(i: int) -> None:
        entry = RefillEntry.model_validate(fudr_refill(T0, idempotency_key=f"race-{i:04d}"))
        start.wait()
        try:
            complete_visit(engine, f"HAI-R{i:02d}", entry, settings=settings, clock=ManualClock(T0), actor=ACTOR)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refill, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _booked(engine: Engine) -> list[Appointment]:
    with transaction(engine) as session:
        return list(session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED)).all())


def _refills_per_pump(engine: Engine) -> Counter[int]:
    with transaction(engine) as session:
        rows = session.exec(select(col(Refill.pump_id), func.count()).group_by(col(Refill.pump_id))).all()
    return Counter({pump_id: count for pump_id, count in rows})


def test_racers_for_the_last_slots_of_a_day_book_it_exactly_full_and_the_rest_earlier(
    race_engine: Engine, database_url: str
) -> None:
    capacity = 3
    settings = Settings(
        database_url=database_url,
        station_id="race-station",
        clinic_tz="America/New_York",
        clinic_capacity_per_day=capacity,
    )
    assert _race(race_engine, settings) == []
    booked = _booked(race_engine)
    per_day = Counter(a.local_day for a in booked)
    target_day = max(per_day)
    assert len(booked) == RACERS  # one booking per pump, none lost
    assert Counter(a.pump_id for a in booked) == Counter({a.pump_id: 1 for a in booked})
    assert max(Counter((a.local_day, a.slot_index) for a in booked).values()) == 1  # no slot twice
    assert per_day[target_day] == capacity  # the last slots went to exactly that many racers
    assert max(per_day.values()) == capacity
    assert all(a.on_time for a in booked)  # the others landed on earlier days, still before the due date
    assert set(_refills_per_pump(race_engine).values()) == {1}
    assert len(_refills_per_pump(race_engine)) == RACERS


def test_racers_beyond_every_slot_before_the_due_date_are_booked_late_and_escalated(
    race_engine: Engine, database_url: str
) -> None:
    settings = Settings(
        database_url=database_url,
        station_id="race-station",
        clinic_tz="America/New_York",
        clinic_capacity_per_day=1,
        clinic_working_days=[0],  # Mondays only: today, in one week, on the due date
    )
    assert _race(race_engine, settings) == []
    booked = _booked(race_engine)
    late = [a for a in booked if not a.on_time]
    assert len(booked) == RACERS
    assert max(Counter((a.local_day, a.slot_index) for a in booked).values()) == 1
    assert max(Counter(a.local_day for a in booked).values()) == 1
    assert 0 < len(late) < RACERS
    with transaction(race_engine) as session:
        escalated = session.exec(select(col(Notification.appointment_id)).where(Notification.kind == "no_slot")).all()
    assert Counter(escalated) == Counter(a.id for a in late)  # every late booking told, once
    assert len(_refills_per_pump(race_engine)) == RACERS
