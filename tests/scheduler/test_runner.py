import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from pump_service.persistence.db import transaction
from pump_service.persistence.schedule_models import Notification
from pump_service.scheduler import RefillScheduler
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from simulators.clock import ManualClock
from tests.support import T0, fudr_refill


def _one_booked_pump(engine: Engine, settings: Settings, actor: Actor) -> None:
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=actor, now=T0)
        body = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
        entry = RefillEntry.model_validate(fudr_refill(T0))
        record_refill(session, "HAI-1", entry, actor=actor, settings=settings, now=T0)


def test_the_real_scheduler_ticks_in_virtual_time(engine: Engine, settings: Settings, actor: Actor) -> None:
    _one_booked_pump(engine, settings, actor)
    clock = ManualClock(T0 + timedelta(days=13, hours=12))  # a day before the appointment
    ticked = threading.Event()
    scheduler = RefillScheduler(engine, settings, clock, interval_s=0.05, extra_work=(ticked.set,))
    assert scheduler.start()
    try:
        assert ticked.wait(10)
        ticked.clear()
        clock.advance(timedelta(days=2))  # the appointment has passed without a refill
        assert ticked.wait(10)
        ticked.clear()
        assert ticked.wait(10)  # one more tick after the advance is certainly complete
    finally:
        scheduler.shutdown()
    with transaction(engine) as session:
        kinds = sorted(n.kind for n in session.exec(select(Notification)).all())
    assert kinds == ["overdue", "reminder", "reminder"]
    assert scheduler.ticks >= 3


def test_only_one_scheduler_runs_per_database(engine: Engine, settings: Settings, tmp_path: Path) -> None:
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
