"""Written for PostgreSQL, run on both backends: a whole refill, concurrent bookings, one scheduler per database."""

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import select

from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import transaction
from pump_service.persistence.schedule_models import Appointment
from pump_service.scheduler import RefillScheduler
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from simulators.clock import ManualClock
from tests.support import T0, fudr_refill

ACTOR = Actor(user="nurse-1", station_id="test-station")


def _hai_pumps(engine: Engine, count: int) -> None:
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=ACTOR, now=T0)
        for i in range(count):
            body = {"serial": f"HAI-{i}", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
            register_pump(session, PumpRegistration.model_validate(body), actor=ACTOR, now=T0)


def test_a_refill_visit_records_books_and_bills(engine: Engine, settings: Settings) -> None:
    _hai_pumps(engine, 1)
    entry = RefillEntry.model_validate(fudr_refill(T0, idempotency_key="visit-0001"))
    clock = ManualClock(T0 + timedelta(minutes=5))
    first = complete_visit(engine, "HAI-0", entry, settings=settings, clock=clock, actor=ACTOR)
    again = complete_visit(engine, "HAI-0", entry, settings=settings, clock=clock, actor=ACTOR)
    assert (first.replayed, again.replayed) == (False, True)
    assert first.next_due_at == T0 + timedelta(days=14)
    assert first.performed_at.tzinfo is not None
    with transaction(engine) as session:
        codes = sorted(row.code for row in session.exec(select(ChargeEventRow)).all())
        booked = session.exec(select(Appointment)).one()
    assert "96522" in codes
    assert booked.starts_at.utcoffset() == timedelta(0)


def test_concurrent_bookings_never_share_a_slot(engine: Engine, settings: Settings) -> None:
    count = 12
    _hai_pumps(engine, count)
    settings = settings.model_copy(update={"clinic_capacity_per_day": 4})
    errors: list[BaseException] = []

    def refill(i: int) -> None:
        try:
            entry = RefillEntry.model_validate(fudr_refill(T0, idempotency_key=f"race-{i:04d}"))
            complete_visit(engine, f"HAI-{i}", entry, settings=settings, clock=ManualClock(T0), actor=ACTOR)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refill, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with transaction(engine) as session:
        booked = session.exec(select(Appointment).where(Appointment.status == "booked")).all()
    slots = Counter((a.local_day, a.slot_index) for a in booked)
    assert len(booked) == count
    assert max(slots.values()) == 1
    assert max(Counter(a.local_day for a in booked).values()) <= 4


def test_only_one_scheduler_runs_per_database(engine: Engine, settings: Settings) -> None:
    clock = ManualClock(T0)
    first = RefillScheduler(engine, settings, clock, interval_s=60)
    second = RefillScheduler(engine, settings, clock, interval_s=60)
    assert first.start()
    try:
        assert not second.start()
    finally:
        first.shutdown()
    assert second.start()
    second.shutdown()
