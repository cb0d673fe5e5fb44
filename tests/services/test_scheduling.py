import itertools
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Notification
from pump_service.services.actor import Actor
from pump_service.services.contracts import ConditionEntry, PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.conditions import record_conditions
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.booking import active_appointment, cancel_appointment, rebook_closed_day
from pump_service.services.scheduling.clinics import add_holiday, default_clinic
from pump_service.services.scheduling.notifications import process_due
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from tests.support import T0, fudr_refill

ACTOR = Actor(user="nurse-7", station_id="test-station")


def _settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "station_id": "test-station",
        "clinic_tz": "America/New_York",
    }
    values.update(overrides)
    return Settings(**values)


def _engine(settings: Settings) -> Engine:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=ACTOR, now=T0)
    return engine


def _register(engine: Engine, serial: str, model: str = "hai-30", **extra: Any) -> None:
    route = "intra_arterial" if model.startswith(("hai", "cf")) else "intrathecal"
    body = {"serial": serial, "model_id": model, "route": route, "patient_ref": "P-1", **extra}
    with transaction(engine) as session:
        register_pump(session, PumpRegistration.model_validate(body), actor=ACTOR, now=T0 - timedelta(days=30))


def _refill(engine: Engine, settings: Settings, serial: str, body: dict[str, Any], now: datetime | None = None) -> None:
    entry = RefillEntry.model_validate(body)
    with transaction(engine) as session:
        record_refill(session, serial, entry, actor=ACTOR, settings=settings, now=now or entry.performed_at)


def _appointment(engine: Engine, serial: str) -> Appointment:
    with transaction(engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == serial)).one()
        assert pump.id is not None
        appointment = active_appointment(session, pump.id)
        assert appointment is not None
        return appointment


def test_hai_pump_on_14_day_cycles_is_booked_every_14_days_on_working_days(database_url: str) -> None:
    settings = _settings(database_url)
    engine = _engine(settings)
    _register(engine, "HAI-1")
    performed = T0  # a Monday
    days: list[date] = []
    for cycle in range(6):
        _refill(engine, settings, "HAI-1", fudr_refill(performed, "0 mL" if cycle == 0 else "16 mL"), now=performed)
        appointment = _appointment(engine, "HAI-1")
        assert appointment.on_time
        assert appointment.local_day.weekday() < 5
        days.append(appointment.local_day)
        performed = appointment.starts_at  # the nurse refills at the appointment
    assert [(b - a).days for a, b in itertools.pairwise(days)] == [14] * 5


def test_programmable_pump_with_a_7_day_margin_is_booked_by_day_29(database_url: str) -> None:
    settings = _settings(database_url, safety_margin_days=7)
    engine = _engine(settings)
    _register(engine, "SM-1", "programmable-20", prescription={"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"})
    body = {
        "performed_at": T0.isoformat(),
        "returned_volume_ml": 0,
        "fill_volume_ml": "20 mL",
        "components": [{"drug_id": "baclofen", "conc_mg_per_ml": "2000 ug/mL", "lot": "B1"}],
    }
    _refill(engine, settings, "SM-1", body)
    appointment = _appointment(engine, "SM-1")
    zone = settings.zone
    assert appointment.local_day <= (T0 + timedelta(days=29)).astimezone(zone).date()
    assert appointment.latest_at == T0 + timedelta(days=36)
    assert appointment.on_time


def test_a_holiday_on_the_target_day_moves_the_booking_earlier(database_url: str) -> None:
    settings = _settings(database_url)
    engine = _engine(settings)
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", fudr_refill(T0))
    booked = _appointment(engine, "HAI-1")
    assert booked.local_day == date(2026, 11, 16)
    with transaction(engine) as session:
        clinic = default_clinic(session, settings, now=T0)
        add_holiday(session, clinic, booked.local_day, "staff training", actor=ACTOR, now=T0)
        rebook_closed_day(session, clinic, booked.local_day, actor=ACTOR, now=T0)
    moved = _appointment(engine, "HAI-1")
    assert moved.local_day == date(2026, 11, 13)  # the Friday before
    assert moved.on_time


def test_cancellation_and_no_show_rebook_and_a_no_show_escalates(database_url: str) -> None:
    settings = _settings(database_url)
    engine = _engine(settings)
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", fudr_refill(T0))
    first = _appointment(engine, "HAI-1")
    assert first.id is not None
    with transaction(engine) as session:
        second = cancel_appointment(session, first.id, no_show=False, reason="patient ill", actor=ACTOR, now=T0)
    assert second.id != first.id
    assert second.local_day == date(2026, 11, 16)  # the freed slot is taken again
    missed_at = second.ends_at + timedelta(hours=1)
    assert second.id is not None
    with transaction(engine) as session:
        third = cancel_appointment(session, second.id, no_show=True, reason="did not come", actor=ACTOR, now=missed_at)
        kinds = [n.kind for n in session.exec(select(Notification)).all()]
    assert third.starts_at >= missed_at
    assert third.local_day == second.local_day  # the same day still meets the due date
    assert Counter(kinds) == Counter({"no_show": 1})


def _hai_fleet(engine: Engine, settings: Settings, count: int, *, spread_days: float) -> None:
    for i in range(count):
        _register(engine, f"HAI-{i:04d}")
    for i in range(count):
        performed = T0 - timedelta(days=spread_days * i / count)
        _refill(engine, settings, f"HAI-{i:04d}", fudr_refill(performed), now=T0)


def test_capacity_nobody_is_booked_after_the_alarm_without_an_escalation(database_url: str) -> None:
    settings = _settings(database_url, clinic_capacity_per_day=30, clinic_slot_minutes=15)
    engine = _engine(settings)
    # 200 HAI pumps whose 14-day cycles all end within the coming week
    _hai_fleet(engine, settings, 200, spread_days=7)
    with transaction(engine) as session:
        booked = session.exec(select(Appointment).where(Appointment.status == "booked")).all()
        escalated = {n.appointment_id for n in session.exec(select(Notification)).all() if n.kind == "no_slot"}
        per_day = Counter(a.local_day for a in booked)
    assert len(booked) == 200
    assert max(per_day.values()) <= 30
    for appointment in booked:
        assert appointment.latest_at is not None
        assert appointment.starts_at <= appointment.latest_at or appointment.id in escalated
        assert appointment.on_time or appointment.id in escalated


def _expected_keys(engine: Engine, settings: Settings, now: datetime) -> Counter[str]:
    with transaction(engine) as session:
        booked = session.exec(select(Appointment).where(Appointment.status == "booked")).all()
        pumps = {p.id: p for p in session.exec(select(Pump)).all()}
    expected: Counter[str] = Counter()
    for a in booked:
        for days in settings.reminder_days:
            if a.starts_at - timedelta(days=days) <= now:
                expected["reminder"] += 1
        if a.ends_at + timedelta(hours=settings.overdue_grace_hours) <= now:
            expected["overdue"] += 1
        alarm = pumps[a.pump_id].alarm_at
        if alarm is not None and a.starts_at > alarm:
            expected["alarm_before_visit"] += 1
    return expected


def test_restart_after_three_days_down_processes_every_missed_item_exactly_once(database_url: str) -> None:
    settings = _settings(database_url, clinic_capacity_per_day=64, clinic_slot_minutes=7)
    engine = _engine(settings)
    _hai_fleet(engine, settings, 500, spread_days=14)
    now = T0
    for _ in range(4 * 4):  # four virtual days of ticks every 6 hours
        now += timedelta(hours=6)
        with transaction(engine) as session:
            process_due(session, settings=settings, now=now)
    stopped_at = now
    now += timedelta(days=3)  # the scheduler is down for three days
    with transaction(engine) as session:
        report = process_due(session, settings=settings, now=now)
    with transaction(engine) as session:
        again = process_due(session, settings=settings, now=now)
        rows = session.exec(select(Notification)).all()
    assert again.total == 0
    assert len({r.key for r in rows}) == len(rows)
    counted = Counter(r.kind for r in rows if r.kind != "no_slot")
    assert counted == _expected_keys(engine, settings, now)
    missed = [r for r in rows if stopped_at < r.trigger_at <= now and r.kind in {"reminder", "overdue"}]
    assert missed
    assert all(r.created_at == now for r in missed)  # caught up by the first tick after the restart
    assert report.created["overdue"] > 0
    assert report.created["reminder"] > 0


@pytest.mark.parametrize("state", ["ERI", "EOS"])
def test_a_battery_at_eri_or_eos_escalates_once(database_url: str, state: str) -> None:
    settings = _settings(database_url)
    engine = _engine(settings)
    _register(engine, "SM-1", "programmable-20", prescription={"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"})
    with transaction(engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == "SM-1")).one()
        pump.battery_state = state
        session.add(pump)
    for hours in (1, 2):
        with transaction(engine) as session:
            process_due(session, settings=settings, now=T0 + timedelta(hours=hours))
    with transaction(engine) as session:
        kinds = [n.kind for n in session.exec(select(Notification)).all()]
    assert kinds == ["battery"]


def test_a_fever_moves_a_constant_flow_pump_due_date_and_its_booking_earlier(database_url: str) -> None:
    settings = _settings(database_url)
    engine = _engine(settings)
    _register(engine, "CF-1", "cf-50", nominal_rate_ml_per_day="3 mL/d")
    heparin = {"drug_id": "heparin", "amount_usp_u": "20000 U", "expires_on": "2027-12-31"}
    body = {"performed_at": T0.isoformat(), "returned_volume_ml": 0, "fill_volume_ml": "45 mL"}
    _refill(engine, settings, "CF-1", {**body, "components": [heparin, {"drug_id": "saline"}]})
    before = _appointment(engine, "CF-1")
    fever_at = T0 + timedelta(days=2)
    with transaction(engine) as session:
        entry = ConditionEntry(start_at=fever_at, body_temperature_c=39.0)
        record_conditions(session, "CF-1", entry, settings=settings, actor=ACTOR, now=fever_at)
    after = _appointment(engine, "CF-1")
    assert after.target_at < before.target_at
    # 39 mL left at day 2, flowing 3 x 1.2646 mL/d: the 2 mL floor on day 11.76, due 3 days before
    assert (after.target_at - T0).total_seconds() / 86400 == pytest.approx(2 + 37 / (3 * 1.26461) - 3, abs=0.01)
    assert after.local_day <= after.target_at.astimezone(settings.zone).date()


def test_appointment_status_reads_back_as_the_enum_and_is_stored_as_the_same_string(database_url: str) -> None:
    settings = _settings(database_url)
    engine = _engine(settings)
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", fudr_refill(T0, "0 mL"), now=T0)
    assert _appointment(engine, "HAI-1").status is AppointmentStatus.BOOKED
    with engine.connect() as connection:
        assert connection.execute(text("SELECT DISTINCT status FROM appointment")).scalars().all() == ["booked"]
