"""Clinics in the database and the calendar rules (issue 10, observations 1-4), in virtual time."""

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    ClinicChange,
    ClinicHoliday,
    Notification,
    NotificationStatus,
)
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.booking import active_appointment, cancel_appointment
from pump_service.services.scheduling.clinic_admin import (
    assign_pump,
    change_clinic,
    clinic_history,
    clinic_view,
    create_clinic,
)
from pump_service.services.scheduling.clinics import (
    add_holiday,
    default_clinic,
    get_clinic,
    list_holidays,
    remove_holiday,
)
from pump_service.services.scheduling.contracts import ClinicChanges, ClinicEntry, WorklistKind
from pump_service.services.scheduling.notifications import close_for_appointment, process_due
from pump_service.services.scheduling.worklist import worklist
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from tests.support import T0, fudr_refill

ACTOR = Actor(user="desk-3", station_id="front-desk")
GRACE = timedelta(hours=4)
NEW_YORK = ZoneInfo("America/New_York")
FILL_ML = 30.0  # an hai-30 filled with 30 mL flows 1 mL/d: the return after d days is 30 - d mL


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        station_id="test-station",
        clinic_tz="America/New_York",
        overdue_grace_hours=4,
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return _settings(database_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)  # migrated already: a copy of the session's template
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=ACTOR, now=T0)
    yield engine
    engine.dispose()


def _register(engine: Engine, serial: str) -> None:
    body = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
    with transaction(engine) as session:
        register_pump(session, PumpRegistration.model_validate(body), actor=ACTOR, now=T0 - timedelta(days=30))


def _refill(engine: Engine, settings: Settings, serial: str, at: datetime, last: datetime | None) -> None:
    returned = "0 mL" if last is None else f"{FILL_ML - (at - last).total_seconds() / 86400:.2f} mL"
    entry = RefillEntry.model_validate(fudr_refill(at, returned))
    with transaction(engine) as session:
        record_refill(session, serial, entry, actor=ACTOR, settings=settings, now=at)


def _pump(session: Session, serial: str) -> Pump:
    return session.exec(select(Pump).where(Pump.serial == serial)).one()


def _booked(engine: Engine, serial: str) -> Appointment:
    with transaction(engine) as session:
        pump = _pump(session, serial)
        appointment = active_appointment(session, pump.id or 0)
        if appointment is None:
            raise AssertionError(f"{serial} has no booking")
        return appointment


def _appointments(engine: Engine, serial: str) -> list[Appointment]:
    with transaction(engine) as session:
        pump = _pump(session, serial)
        query = select(Appointment).where(Appointment.pump_id == pump.id).order_by(col(Appointment.id))
        return list(session.exec(query).all())


def _north(**overrides: Any) -> ClinicEntry:
    values: dict[str, Any] = {
        "clinic_id": "north",
        "name": "North refill clinic",
        "timezone": "America/New_York",
        "working_days": [0, 1, 2, 3, 4],
        "opens_at": "08:00",
        "closes_at": "12:00",
        "slot_minutes": 30,
        "capacity_per_day": 4,
        "jurisdiction": "JM",
    }
    values.update(overrides)
    return ClinicEntry.model_validate(values)


def _counts(engine: Engine) -> tuple[int, ...]:
    with transaction(engine) as session:
        return tuple(
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Clinic, ClinicChange, ClinicHoliday, Appointment, Notification)
        )


# -- observation 1: a no-show two weeks ahead ---------------------------------------------------


def test_observation_1_a_no_show_is_refused_before_the_appointment_starts(engine: Engine, settings: Settings) -> None:
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", T0, None)
    booked = _booked(engine, "HAI-1")
    assert booked.starts_at - T0 > timedelta(days=13)
    before = _counts(engine)
    with transaction(engine) as session, pytest.raises(ConflictError, match="only once it has started"):
        cancel_appointment(session, booked.id or 0, no_show=True, reason="did not come", actor=ACTOR, now=T0)
    assert _counts(engine) == before
    assert _booked(engine, "HAI-1").id == booked.id
    with transaction(engine) as session:
        late = booked.starts_at + timedelta(minutes=1)
        new = cancel_appointment(session, booked.id or 0, no_show=True, reason="did not come", actor=ACTOR, now=late)
    assert new.starts_at >= late


# -- observation 2: a cancellation at the patient's request ---------------------------------------


def test_observation_2_a_cancellation_at_the_patients_request_rebooks_on_another_day(
    engine: Engine, settings: Settings
) -> None:
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", T0, None)
    booked = _booked(engine, "HAI-1")
    assert booked.local_day == date(2026, 11, 16)
    on_the_day = booked.starts_at - timedelta(hours=2)  # the patient phones that morning
    with transaction(engine) as session:
        new = cancel_appointment(
            session,
            booked.id or 0,
            no_show=False,
            reason="patient request",
            actor=ACTOR,
            now=on_the_day,
            patient_request=True,
        )
    assert new.local_day != booked.local_day
    assert new.local_day > booked.local_day  # the days before are past; after the due date, so escalated
    assert not new.on_time
    with transaction(engine) as session:
        kinds = Counter(n.kind for n in session.exec(select(Notification)).all())
    assert kinds == Counter({"no_slot": 1})


def test_a_patient_cancellation_days_ahead_moves_to_an_earlier_day_before_the_due_date(
    engine: Engine, settings: Settings
) -> None:
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", T0, None)
    booked = _booked(engine, "HAI-1")
    with transaction(engine) as session:
        new = cancel_appointment(
            session,
            booked.id or 0,
            no_show=False,
            reason="patient request",
            actor=ACTOR,
            now=T0,
            patient_request=True,
        )
    assert new.local_day == date(2026, 11, 13)  # the Friday before, not 30 minutes later that Monday
    assert new.on_time


# -- observation 3: a refill completes only the appointment it fulfils ----------------------------


def test_observation_3_a_refill_the_day_before_gives_up_the_later_booking_and_closes_its_reminders(
    engine: Engine, settings: Settings
) -> None:
    _register(engine, "HAI-1")
    first = T0 + timedelta(days=16, hours=6)  # 18 Nov
    _refill(engine, settings, "HAI-1", first, None)
    dec_2 = _booked(engine, "HAI-1")
    assert dec_2.local_day == date(2026, 12, 2)
    with transaction(engine) as session:
        process_due(session, settings=settings, now=datetime(2026, 12, 1, 14, 0, tzinfo=UTC))
        reminders = session.exec(select(Notification).where(Notification.appointment_id == dec_2.id)).all()
    assert {r.kind for r in reminders} == {"reminder"}
    assert all(r.status == NotificationStatus.OPEN for r in reminders)
    refill_at = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    _refill(engine, settings, "HAI-1", refill_at, first)
    rows = _appointments(engine, "HAI-1")
    by_day = {a.local_day: a for a in rows}
    assert by_day[date(2026, 12, 2)].status == AppointmentStatus.SUPERSEDED
    assert by_day[date(2026, 12, 2)].refill_id is None
    assert by_day[date(2026, 12, 15)].status == AppointmentStatus.BOOKED
    assert [a for a in rows if a.status == AppointmentStatus.COMPLETED] == []
    with transaction(engine) as session:
        statuses = {n.status for n in session.exec(select(Notification).where(Notification.appointment_id == dec_2.id))}
    assert statuses == {NotificationStatus.CLOSED}


def test_a_refill_on_the_day_completes_that_appointment_only(engine: Engine, settings: Settings) -> None:
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", T0, None)
    booked = _booked(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", booked.starts_at, T0)
    rows = _appointments(engine, "HAI-1")
    assert [(a.local_day, a.status) for a in rows] == [
        (date(2026, 11, 16), AppointmentStatus.COMPLETED),
        (date(2026, 11, 30), AppointmentStatus.BOOKED),
    ]
    assert rows[0].refill_id is not None


def test_a_late_refill_completes_the_nearest_open_appointment_before_it(engine: Engine, settings: Settings) -> None:
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", T0, None)
    missed = _booked(engine, "HAI-1")  # 16 Nov; the patient comes on the 17th instead
    came = missed.starts_at + timedelta(days=1)
    _refill(engine, settings, "HAI-1", came, T0)
    rows = _appointments(engine, "HAI-1")
    assert rows[0].id == missed.id
    assert rows[0].status == AppointmentStatus.COMPLETED
    assert rows[-1].status == AppointmentStatus.BOOKED
    assert rows[-1].local_day == date(2026, 12, 1)


def test_cancelling_an_appointment_closes_its_open_reminders(engine: Engine, settings: Settings) -> None:
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", T0, None)
    booked = _booked(engine, "HAI-1")
    week_before = booked.starts_at - timedelta(days=6)
    with transaction(engine) as session:
        assert process_due(session, settings=settings, now=week_before).created["reminder"] == 1
        new = cancel_appointment(session, booked.id or 0, no_show=False, reason="x", actor=ACTOR, now=week_before)
        old = session.exec(select(Notification).where(Notification.appointment_id == booked.id)).one()
    assert old.status == NotificationStatus.CLOSED
    assert (old.acknowledged_by, old.acknowledged_at) == ("desk-3", week_before)
    assert new.id != booked.id


# -- observation 4: holidays validated, listed and removed; hours and capacity seen and changed ---


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (date(2020, 1, 1), "in the past"),
        (date(1, 1, 1), "in the past"),
        (date(9999, 12, 31), "beyond the calendar's range"),
        (date(2026, 11, 21), "is a Saturday, not a working day"),
    ],
)
def test_observation_4_impossible_holidays_are_refused_naming_the_day(
    engine: Engine, settings: Settings, day: date, message: str
) -> None:
    with transaction(engine) as session:
        default_clinic(session, settings, now=T0)
    before = _counts(engine)
    with transaction(engine) as session, pytest.raises(RuleViolationError, match=message) as caught:
        add_holiday(session, default_clinic(session, settings, now=T0), day, "x", actor=ACTOR, now=T0)
    assert caught.value.field == "day"
    assert _counts(engine) == before


def test_observation_4_holidays_are_listed_and_removed_and_hours_seen_and_changed(
    engine: Engine, settings: Settings
) -> None:
    with transaction(engine) as session:
        clinic = default_clinic(session, settings, now=T0)
        add_holiday(session, clinic, date(2026, 11, 26), "Thanksgiving", actor=ACTOR, now=T0)
        add_holiday(session, clinic, date(2026, 12, 24), "Christmas Eve", actor=ACTOR, now=T0)
        assert [h.day for h in list_holidays(session, clinic)] == [date(2026, 11, 26), date(2026, 12, 24)]
        remove_holiday(session, clinic, date(2026, 12, 24), actor=ACTOR, now=T0)
        with pytest.raises(NotFoundError):
            remove_holiday(session, clinic, date(2026, 12, 24), actor=ACTOR, now=T0)
        view = clinic_view(session, clinic)
        assert [h.name for h in view.holidays] == ["Thanksgiving"]
        assert (view.opens_at, view.closes_at, view.capacity_per_day, view.slots_per_day) == ("08:00", "16:00", 16, 16)
        change_clinic(
            session, clinic.clinic_id, ClinicChanges(closes_at="12:00", capacity_per_day=8), actor=ACTOR, now=T0
        )
        view = clinic_view(session, clinic)
        assert (view.closes_at, view.capacity_per_day, view.slots_per_day) == ("12:00", 8, 8)
        kinds = [c.kind for c in clinic_history(session, clinic)]
    assert kinds == ["created", "holiday_added", "holiday_added", "holiday_removed", "changed"]


# -- clinics in the database ----------------------------------------------------------------------


def test_a_clinic_is_created_with_its_history_and_a_pump_moves_to_it_with_its_booking(
    engine: Engine, settings: Settings
) -> None:
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", T0, None)
    at_main = _booked(engine, "HAI-1")
    with transaction(engine) as session:
        north = create_clinic(session, _north(), actor=ACTOR, now=T0)
        with pytest.raises(ConflictError):
            create_clinic(session, _north(), actor=ACTOR, now=T0)
        moved = assign_pump(session, "HAI-1", north, actor=ACTOR, now=T0)
        assert moved is not None
        assert moved.clinic_id == north.id
        assert moved.target_at == at_main.target_at
        assert _pump(session, "HAI-1").clinic_id == north.id
        [created, assigned] = clinic_history(session, north)
        with pytest.raises(NotFoundError):
            assign_pump(session, "NOPE", north, actor=ACTOR, now=T0)
    assert (created.kind, created.changed_by, created.station_id) == ("created", "desk-3", "front-desk")
    assert created.after["jurisdiction"] == "JM"
    assert assigned.after == {"pump": "HAI-1", "clinic": "north"}
    assert [a.status for a in _appointments(engine, "HAI-1")] == [
        AppointmentStatus.SUPERSEDED,
        AppointmentStatus.BOOKED,
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"opens_at": "13:00"}, "closes_at"),  # closes at 12:00, before it opens
        ({"slot_minutes": 120}, "capacity_per_day"),  # 4 a day no longer fit in 2 slots
    ],
)
def test_an_impossible_change_names_the_field_and_changes_nothing(
    engine: Engine, changes: dict[str, Any], field: str
) -> None:
    with transaction(engine) as session:
        create_clinic(session, _north(), actor=ACTOR, now=T0)
    before = _counts(engine)
    with transaction(engine) as session, pytest.raises(RuleViolationError) as caught:
        change_clinic(session, "north", ClinicChanges.model_validate(changes), actor=ACTOR, now=T0)
    assert caught.value.field == field
    assert _counts(engine) == before
    with transaction(engine) as session:
        assert (get_clinic(session, "north").opens_at, get_clinic(session, "north").slot_minutes) == ("08:00", 30)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"capacity_per_day": 0}, "capacity_per_day"),
        ({"capacity_per_day": -3}, "capacity_per_day"),
        ({"jurisdiction": "J1"}, "jurisdiction"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"opens_at": "25:00"}, "opens_at"),
    ],
)
def test_bad_clinic_fields_are_refused_by_the_contract(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _north(**values)
    assert caught.value.errors()[0]["loc"] == (field,)
    with pytest.raises(ValidationError):
        ClinicChanges.model_validate(values)


def test_an_unknown_clinic_is_not_found(engine: Engine) -> None:
    with transaction(engine) as session, pytest.raises(NotFoundError):
        change_clinic(session, "nowhere", ClinicChanges(capacity_per_day=3), actor=ACTOR, now=T0)


def test_less_capacity_and_later_opening_move_the_bookings_that_no_longer_fit(
    engine: Engine, settings: Settings
) -> None:
    with transaction(engine) as session:
        north = create_clinic(session, _north(), actor=ACTOR, now=T0)
    for i in range(4):
        _register(engine, f"HAI-{i}")
        with transaction(engine) as session:
            assign_pump(session, f"HAI-{i}", north, actor=ACTOR, now=T0)
        _refill(engine, settings, f"HAI-{i}", T0, None)
    before = {f"HAI-{i}": _booked(engine, f"HAI-{i}") for i in range(4)}
    assert {a.local_day for a in before.values()} == {date(2026, 11, 16)}
    assert sorted(a.slot_index for a in before.values()) == [0, 1, 2, 3]
    with transaction(engine) as session:
        _, moved = change_clinic(
            session, "north", ClinicChanges(opens_at="08:30", capacity_per_day=2), actor=ACTOR, now=T0
        )
        [change] = [c for c in clinic_history(session, north) if c.kind == "changed"]
    assert change.before == {"opens_at": "08:00", "capacity_per_day": 4}
    assert change.after == {"opens_at": "08:30", "capacity_per_day": 2}
    after = {serial: _booked(engine, serial) for serial in before}
    kept = [s for s in before if after[s].id == before[s].id]
    # 08:30 and 09:00 are slots 0 and 1 of the new day; 08:00 is gone, 09:30 is beyond the capacity
    assert sorted(after[s].starts_at.astimezone(NEW_YORK).strftime("%H:%M") for s in kept) == ["08:30", "09:00"]
    assert sorted(after[s].slot_index for s in kept) == [0, 1]
    assert len(moved) == 2
    for appointment in moved:
        assert appointment.local_day < date(2026, 11, 16)  # earlier, still before the due date
        assert appointment.on_time
    with transaction(engine) as session:
        per_day = Counter(
            a.local_day for a in session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED))
        )
    assert max(per_day.values()) <= 2


def test_a_capacity_cut_that_leaves_no_room_before_the_due_date_escalates(engine: Engine, settings: Settings) -> None:
    with transaction(engine) as session:
        north = create_clinic(session, _north(), actor=ACTOR, now=T0)
    for i in range(3):
        _register(engine, f"HAI-{i}")
        with transaction(engine) as session:
            assign_pump(session, f"HAI-{i}", north, actor=ACTOR, now=T0)
    day_before = T0 + timedelta(days=13)  # Sunday 15 Nov: the booking on Monday 16 Nov is the only chance
    for i in range(3):
        _refill(engine, settings, f"HAI-{i}", T0, None)
    with transaction(engine) as session:
        _, moved = change_clinic(session, "north", ClinicChanges(capacity_per_day=1), actor=ACTOR, now=day_before)
        escalations = session.exec(select(Notification).where(Notification.kind == "no_slot")).all()
    assert len(moved) == 2
    assert all(not m.on_time and m.local_day > date(2026, 11, 16) for m in moved)
    assert {e.appointment_id for e in escalations} == {m.id for m in moved}


# -- a month of a clinic in virtual time -----------------------------------------------------------


def test_a_month_of_the_clinic_keeps_the_calendar_rules(engine: Engine, settings: Settings) -> None:
    """Four pumps over 31 days: one comes every time, one misses a visit, one cancels, one comes early.

    Each day the scheduler ticks every hour; visits happen at their appointment. At every step: one
    booking per pump, at most the capacity per day, no reminder open for a closed appointment, and
    a no-show only once the visit started.
    """
    with transaction(engine) as session:
        north = create_clinic(session, _north(capacity_per_day=2), actor=ACTOR, now=T0)
        add_holiday(session, north, date(2026, 11, 26), "Thanksgiving", actor=ACTOR, now=T0)
    serials = ["ON-TIME", "MISSES", "CANCELS", "EARLY"]
    last: dict[str, datetime] = {}
    for offset, serial in enumerate(serials):
        _register(engine, serial)
        with transaction(engine) as session:
            assign_pump(session, serial, north, actor=ACTOR, now=T0)
        last[serial] = T0 + timedelta(hours=offset)
        _refill(engine, settings, serial, last[serial], None)
    missed = cancelled = early = False
    now = T0
    end = T0 + timedelta(days=31)
    while now < end:
        now += timedelta(hours=1)
        with transaction(engine) as session:
            process_due(session, settings=settings, now=now)
        for serial in serials:
            booked = _booked(engine, serial)
            if serial == "CANCELS" and not cancelled and booked.starts_at - now < timedelta(days=2):
                with transaction(engine) as session:
                    new = cancel_appointment(
                        session,
                        booked.id or 0,
                        no_show=False,
                        reason="patient request",
                        actor=ACTOR,
                        now=now,
                        patient_request=True,
                    )
                assert new.local_day != booked.local_day
                cancelled = True
            elif serial == "EARLY" and not early and booked.starts_at - now < timedelta(days=1):
                _refill(engine, settings, serial, now, last[serial])  # comes the day before, unannounced
                last[serial], early = now, True
                assert AppointmentStatus.COMPLETED not in {a.status for a in _appointments(engine, serial)}
            elif serial == "MISSES" and not missed and booked.starts_at <= now:
                with transaction(engine) as session:
                    cancel_appointment(session, booked.id or 0, no_show=True, reason="-", actor=ACTOR, now=now)
                    items = worklist(session, north, now=now, grace=GRACE)
                assert [(i.kind, i.pump_serial) for i in items] == [(WorklistKind.NO_SHOW, "MISSES")]
                missed = True
            elif booked.starts_at <= now:
                _refill(engine, settings, serial, now, last[serial])
                last[serial] = now
                assert _appointments(engine, serial)[-2].status in {AppointmentStatus.COMPLETED}
        _check_invariants(engine, now)
    assert (missed, cancelled, early) == (True, True, True)
    with transaction(engine) as session:
        assert worklist(session, north, now=now, grace=GRACE) == []
        completed = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.COMPLETED)).all()
    assert all(a.local_day != date(2026, 11, 26) for a in completed)
    assert len(completed) >= 5


def _check_invariants(engine: Engine, now: datetime) -> None:
    with transaction(engine) as session:
        rows = session.exec(select(Appointment)).all()
        booked = [a for a in rows if a.status == AppointmentStatus.BOOKED]
        assert sorted(Counter(a.pump_id for a in booked).values()) == [1, 1, 1, 1]
        assert max(Counter(a.local_day for a in booked).values()) <= 2
        closed = {a.id for a in rows if a.status != AppointmentStatus.BOOKED}
        open_rows = session.exec(select(Notification).where(Notification.status == NotificationStatus.OPEN)).all()
        assert not [n for n in open_rows if n.appointment_id in closed and n.kind == "reminder"]
        for a in rows:
            if a.status == AppointmentStatus.NO_SHOW:
                assert a.updated_at >= a.starts_at
            if a.status == AppointmentStatus.COMPLETED:
                assert a.local_day.weekday() < 5


def test_a_no_show_escalation_survives_the_move_of_the_appointment_it_is_attached_to(
    engine: Engine, settings: Settings
) -> None:
    """Closing an appointment's notifications once closed its escalations too, before anyone was told."""
    _register(engine, "HAI-1")
    _refill(engine, settings, "HAI-1", T0, None)
    booked = _booked(engine, "HAI-1")
    after_start = booked.starts_at + timedelta(minutes=40)
    with transaction(engine) as session:
        rebooked = cancel_appointment(session, booked.id or 0, no_show=True, reason="x", actor=ACTOR, now=after_start)
        close_for_appointment(session, rebooked.id or 0, actor=ACTOR, now=after_start)
        escalation = session.exec(select(Notification).where(Notification.kind == "no_show")).one()
    assert escalation.status == NotificationStatus.OPEN
