"""A pump's booking kept by a new forecast while its day is closed, on PostgreSQL: the move keeps the new forecast.

A reading (an interrogation, a condition change) replans the pump: its booking still fits, so it is
kept with the new latest date (the forecast's low-reservoir or empty date). Closing that day moves
every booking on it. Before the kept booking held the clinic's calendar, the closing read it before
the replan committed, waited for its row lock, then moved it with the forecast it had read: the
pump's only booking then aimed at a latest date the pump no longer had.
"""

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.clinic_admin import close_day
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.services.scheduling.replanning import replan_from_reading
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from schemas.clock import SystemClock
from tests.support import T0, fudr_refill

ACTOR = Actor(user="nurse-race", station_id="race-station")
MANAGER = Actor(user="manager-race", station_id="office")
WAIT_S = 20.0
CLOCK = SystemClock()  # two real threads and a real server: real time, bounded


def _station(database_url: str) -> tuple[Settings, Engine]:
    settings = Settings(database_url=database_url, station_id="race-station", clinic_tz="America/New_York")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=ACTOR, now=T0)
        body = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
        register_pump(session, PumpRegistration.model_validate(body), actor=ACTOR, now=T0)
    return settings, engine


def _booked(engine: Engine) -> list[Appointment]:
    with transaction(engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == "HAI-1")).one()
        query = select(Appointment).where(
            Appointment.pump_id == pump.id, Appointment.status == AppointmentStatus.BOOKED
        )
        return list(session.exec(query).all())


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return int(waiting) > 0


@pytest.mark.postgresql_only("row and advisory locks: SQLite runs one writer at a time")
def test_a_day_closed_while_a_replan_keeps_its_booking_moves_it_with_the_new_forecast(database_url: str) -> None:
    settings, engine = _station(database_url)
    with transaction(engine) as session:
        record_refill(
            session, "HAI-1", RefillEntry.model_validate(fudr_refill(T0)), actor=ACTOR, settings=settings, now=T0
        )
    (first,) = _booked(engine)
    replanned, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    at = T0 + timedelta(days=3)

    def replan() -> None:
        try:
            with transaction(engine) as session:
                pump = session.exec(select(Pump).where(Pump.serial == "HAI-1")).one()
                # Flowing at 1.5 mL/day: still due on the booked day, but low sooner.
                replan_from_reading(
                    session,
                    pump,
                    reservoir_ml=30.0 - 3 * 1.5,
                    reading_at=at,
                    daily_volume_ml=1.5,
                    settings=settings,
                    actor=ACTOR,
                    now=at,
                )
                session.flush()
                replanned.set()
                release.wait(WAIT_S)  # still uncommitted while the day is closed
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
            replanned.set()

    def closing(results: list[Any]) -> None:
        try:
            with transaction(engine) as session:
                clinic = default_clinic(session, settings, now=at)
                results.extend(close_day(session, clinic, first.local_day, "staff training", actor=MANAGER, now=at))
        except BaseException as exc:
            errors.append(exc)

    replanner = threading.Thread(target=replan)
    replanner.start()
    assert replanned.wait(WAIT_S)
    moved: list[Any] = []
    closer = threading.Thread(target=closing, args=(moved,))
    closer.start()
    deadline = CLOCK.monotonic() + WAIT_S
    while not _waiting_on_a_lock(engine):  # the closing has reached one of the replan's locks
        assert not errors, errors
        assert CLOCK.monotonic() < deadline, "the day's closing never waited for the replan"
        CLOCK.sleep(0.05)
    release.set()
    replanner.join(WAIT_S)
    closer.join(WAIT_S)
    assert not errors, errors
    (booked,) = _booked(engine)
    assert booked.local_day != first.local_day
    with transaction(engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == "HAI-1")).one()
    assert pump.alarm_at or pump.empty_at
    assert booked.latest_at == (pump.alarm_at or pump.empty_at)  # the replan's forecast, not the one before it
    assert booked.latest_at != first.latest_at
    engine.dispose()
