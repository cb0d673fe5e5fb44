"""A constant-flow refill visit is bounded: a fixed number of statements, and a slot search that
reads only the days it can use, however many bookings the clinic holds on later days."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.rows import clinic_id_of, pump_id_of
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import get_pump, register_patient, register_pump
from pump_service.services.scheduling.clinics import calendar_of, default_clinic
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from tests.support import T0, FixedClock, fudr_refill

# One constant-flow visit wrote 62 statements (two transactions, the pump locked and read twice,
# its charges computed twice, the pump row updated four times, the clinic and the patient read
# again at each lookup); it writes 46 now, bounded with a small margin.
VISIT_STATEMENTS_BOUND = 50


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _visit(engine: Engine, settings: Settings, actor: Actor, serial: str) -> None:
    entry = RefillEntry.model_validate(fudr_refill(T0, idempotency_key=f"visit-{serial}"))
    complete_visit(engine, serial, entry, settings=settings, clock=FixedClock(T0), actor=actor)


def test_a_constant_flow_visit_writes_a_bounded_number_of_statements(
    engine: Engine, settings: Settings, actor: Actor, hai_pump: str
) -> None:
    with _statements(engine) as seen:
        _visit(engine, settings, actor, hai_pump)
    writes = [s for s, _ in seen if s.lstrip().upper().startswith("UPDATE PUMP")]
    assert len(seen) <= VISIT_STATEMENTS_BOUND, "\n".join(s.split("\n")[0] for s, _ in seen)
    assert len(writes) == 1, writes  # the pump row written once


def _clinic_with_bookings(tmp_path: Path, actor: Actor, *, later: int) -> tuple[Engine, Settings]:
    """HAI-1 to refill now; HAI-2 holds 3 bookings in the coming days and ``later`` from day 60 on."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/pump.db", station_id="test-station")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=actor, now=T0)
        for serial in ("HAI-1", "HAI-2"):
            body = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
            register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
        clinic = default_clinic(session, settings, now=T0, actor=actor)
        calendar = calendar_of(session, clinic)
        other = pump_id_of(get_pump(session, "HAI-2"))
        days = [calendar.local_day(T0) + timedelta(days=d) for d in (1, 2, 3)]
        day = calendar.local_day(T0) + timedelta(days=60)
        while len(days) < 3 + later:
            if calendar.is_working_day(day):
                days.extend([day] * min(calendar.capacity_per_day, 3 + later - len(days)))
            day += timedelta(days=1)
        per_day: dict[Any, int] = {}
        for booked_day in days:
            index = per_day[booked_day] = per_day.get(booked_day, -1) + 1
            session.add(
                Appointment(
                    pump_id=other,
                    clinic_id=clinic_id_of(clinic),
                    local_day=booked_day,
                    slot_index=index,
                    starts_at=calendar.slot_start(booked_day, index),
                    ends_at=calendar.slot_end(booked_day, index),
                    target_at=T0 + timedelta(days=400),
                    due_reason="test",
                    on_time=True,
                    status=AppointmentStatus.BOOKED,
                    created_at=T0,
                    created_by=actor.user,
                    station_id=actor.station_id,
                    updated_at=T0,
                    updated_by=actor.user,
                )
            )
    return engine, settings


def _slot_rows_read(engine: Engine, settings: Settings, actor: Actor) -> list[int]:
    """The rows each slot-search query of one visit returns (re-run afterwards with the same parameters)."""
    with _statements(engine) as seen:
        _visit(engine, settings, actor, "HAI-1")
    queries = [(s, p) for s, p in seen if s.startswith("SELECT appointment.local_day, appointment.slot_index")]
    counts = []
    with engine.connect() as connection:
        for statement, parameters in queries:
            counts.append(len(connection.exec_driver_sql(statement, parameters).all()))
    return counts


def test_the_slot_search_reads_only_the_days_it_can_use(tmp_path: Path, actor: Actor) -> None:
    (tmp_path / "few").mkdir()
    (tmp_path / "many").mkdir()
    few_engine, few_settings = _clinic_with_bookings(tmp_path / "few", actor, later=0)
    many_engine, many_settings = _clinic_with_bookings(tmp_path / "many", actor, later=2000)
    with_few = _slot_rows_read(few_engine, few_settings, actor)
    with_many = _slot_rows_read(many_engine, many_settings, actor)
    few_engine.dispose()
    many_engine.dispose()
    assert with_few == [4]  # once; the 3 bookings of the coming days (re-run after the visit: and its own)
    assert with_many == with_few  # 2,000 bookings after the due date are never read
