"""Rows for the tick tests: a clinic, pumps and booked appointments, written through the ORM.

Through the ORM on purpose: the ``before_flush`` hook sets ``next_decision_at`` as it does for the
service's own writes, so the tests see the column as production keeps it.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from pump_service.persistence.db import transaction
from pump_service.persistence.models import Patient, Pump
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic
from schemas.pump import PumpFamily

BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SLOT = timedelta(minutes=30)
CREATED_AT = BASE - timedelta(days=60)


def add_clinic(session: Session, reminder_days: list[int] | None = None) -> Clinic:
    clinic = Clinic(
        clinic_id="main",
        name="Main",
        timezone="America/New_York",
        working_days=[0, 1, 2, 3, 4],
        opens_at="08:00",
        closes_at="16:00",
        slot_minutes=30,
        capacity_per_day=16,
        reminder_days=[7, 1] if reminder_days is None else reminder_days,
        updated_at=CREATED_AT,
        updated_by="test",
        created_at=CREATED_AT,
        created_by="test",
        station_id="test-station",
    )
    session.add(clinic)
    session.flush()
    return clinic


def add_pump(session: Session, clinic: Clinic, number: int) -> Pump:
    patient = Patient(patient_ref=f"P-{number}", created_at=CREATED_AT, created_by="test", station_id="test-station")
    session.add(patient)
    session.flush()
    pump = Pump(
        serial=f"HAI-{number}",
        model_id="hai-30",
        family=PumpFamily.CONSTANT_FLOW,
        route="intra_arterial",
        patient_id=patient.id,
        clinic_id=clinic.id,
        updated_at=CREATED_AT,
        updated_by="test",
        created_at=CREATED_AT,
        created_by="test",
        station_id="test-station",
    )
    session.add(pump)
    session.flush()
    return pump


def book(session: Session, pump: Pump, starts_at: datetime) -> Appointment:
    if pump.id is None or pump.clinic_id is None:
        raise ValueError("the pump must be stored, with a clinic")
    appointment = Appointment(
        pump_id=pump.id,
        clinic_id=pump.clinic_id,
        local_day=starts_at.date(),
        slot_index=0,
        starts_at=starts_at,
        ends_at=starts_at + SLOT,
        target_at=starts_at,
        due_reason="volume",
        on_time=True,
        status=AppointmentStatus.BOOKED,
        updated_at=CREATED_AT,
        updated_by="test",
        created_at=CREATED_AT,
        created_by="test",
        station_id="test-station",
    )
    session.add(appointment)
    session.flush()
    return appointment


def clinic_of_booked_pumps(engine: Engine, starts: list[datetime]) -> list[int]:
    """One clinic, one pump per start, each with its booked appointment; returns the appointment ids."""
    with transaction(engine) as session:
        clinic = add_clinic(session)
        ids = []
        for number, starts_at in enumerate(starts, start=1):
            appointment = book(session, add_pump(session, clinic, number), starts_at)
            ids.append(appointment.id or 0)
    return ids
