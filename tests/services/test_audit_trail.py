"""The audit trail records every committed change of a realistic flow, and nothing rolled back."""

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, SQLModel
from sqlmodel import select as sqlmodel_select

from pump_service.domain.access import Role
from pump_service.domain.audit_chain import ChainFault, ChainProblem
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, Patient, Pump, Refill, RefillComponent
from pump_service.persistence.schedule_models import ClinicChange
from pump_service.scheduler import RefillScheduler
from pump_service.services.actor import SYSTEM_USER, Actor, acting_as
from pump_service.services.audit import UNATTRIBUTED_NOTE, AuditAction, audit_clock, record_event, verify_audit_chain
from pump_service.services.charges.recording import void_charge
from pump_service.services.contracts import PatientEntry
from pump_service.services.pumps.registry import register_patient
from pump_service.services.scheduling.clinic_admin import change_clinic
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.services.scheduling.contracts import ClinicChanges
from pump_service.settings import Settings
from tests.audit_support import audit_rows, chain_head, drop_append_only_triggers, drop_chain_head_trigger
from tests.charge_support import bill_refill, billed_body, register_hai
from tests.services.test_visits import Station
from tests.support import T0, FixedClock

NURSE = Actor(user="nurse-7", station_id="station-1", role=Role.NURSE)
BILLER = Actor(user="biller-2", station_id="office-1", role=Role.BILLING)
MANAGER = Actor(user="manager-1", station_id="office-1", role=Role.MANAGER)


def _ids(engine: Engine, table: type[SQLModel]) -> set[str]:
    with transaction(engine) as session:
        return {str(i) for i in session.scalars(select(table.id)).all()}  # type: ignore[attr-defined]


def test_every_change_of_a_realistic_flow_is_audited_with_who_role_station_when_and_what(
    engine: Engine, settings: Settings
) -> None:
    clock = FixedClock()
    with acting_as(NURSE), audit_clock(clock):
        register_hai(engine, NURSE)
        clock.advance(60)
        charges = bill_refill(engine, settings, NURSE, billed_body(T0 + timedelta(minutes=1))).rows
    with acting_as(BILLER), audit_clock(clock), transaction(engine) as session:
        clock.advance(60)
        correction = void_charge(session, charges[0].event_id, reason="entered twice", actor=BILLER, now=clock.now())
    with acting_as(MANAGER), audit_clock(clock), transaction(engine) as session:
        clock.advance(60)
        clinic = default_clinic(session, settings, now=clock.now(), actor=MANAGER)
        before_capacity = clinic.capacity_per_day
        change_clinic(
            session,
            clinic.clinic_id,
            ClinicChanges(capacity_per_day=before_capacity - 1),
            actor=MANAGER,
            now=clock.now(),
        )

    # Every row of every table the flow wrote has its insert entry: nothing needed remembering.
    for table in (Patient, Pump, Refill, RefillComponent, ChargeEventRow, ClinicChange, DeviceLogRecord):
        inserted = {row.entity_id for row in audit_rows(engine, entity=table.__tablename__, action="insert")}
        assert inserted == _ids(engine, table), table.__tablename__

    pump = audit_rows(engine, entity="pump", action="insert")[0]
    assert (pump.actor_user, pump.actor_role, pump.station_id, pump.at) == ("nurse-7", "nurse", "station-1", T0)
    assert pump.before is None
    assert pump.after["serial"] == "HAI-1"
    assert pump.note is None
    refill = audit_rows(engine, entity="refill", action="insert")[0]
    assert refill.at == T0 + timedelta(minutes=1)
    assert refill.after["fill_volume_ml"] == 30.0

    # The void: the correction is inserted and the original's link updated, by the biller.
    voided = audit_rows(engine, entity="charge_event", action="update")
    assert [(e.entity_id, e.actor_user, e.actor_role, e.station_id) for e in voided] == [
        (str(charges[0].id), "biller-2", "billing", "office-1")
    ]
    assert voided[0].before == {"id": charges[0].id, "voided_by_event_id": None}
    assert voided[0].after == {"id": charges[0].id, "voided_by_event_id": correction.event_id}
    assert voided[0].at == T0 + timedelta(minutes=2)

    # A clinic setting: only the changed columns (and the id), old and new.
    changed = [e for e in audit_rows(engine, entity="clinic", action="update") if "capacity_per_day" in e.after]
    assert len(changed) == 1
    assert changed[0].actor_user == "manager-1"
    assert changed[0].before["capacity_per_day"] == before_capacity
    assert changed[0].after["capacity_per_day"] == before_capacity - 1
    assert set(changed[0].after) == {"id", "capacity_per_day", "updated_at", "updated_by"}

    with transaction(engine) as session:
        verdict = verify_audit_chain(session)
    assert verdict.intact
    assert verdict.checked == len(audit_rows(engine)) == chain_head(engine)[0]


def _register_then_fail(engine: Engine) -> None:
    with acting_as(NURSE), transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=NURSE, now=T0)
        session.flush()  # the change reached the database, inside the transaction
        raise RuntimeError("the use case fails after writing")


def test_a_rolled_back_transaction_leaves_no_entry(engine: Engine) -> None:
    head = chain_head(engine)
    with pytest.raises(RuntimeError, match="fails after writing"):
        _register_then_fail(engine)
    assert audit_rows(engine) == []
    assert chain_head(engine) == head
    assert _ids(engine, Patient) == set()


def _duplicate_in_a_savepoint(session: Session) -> None:
    with session.begin_nested():
        register_patient(session, PatientEntry(patient_ref="P-2", body_mass_kg=70.0), actor=NURSE, now=T0)
        session.flush()
        session.add(Patient(patient_ref="P-2", body_mass_kg=1.0, created_at=T0, created_by="x", station_id="s"))
        session.flush()  # a duplicate reference: the savepoint rolls back


def test_a_rolled_back_savepoint_drops_its_entries_and_keeps_the_rest(engine: Engine) -> None:
    with acting_as(NURSE), transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=NURSE, now=T0)
        with pytest.raises(IntegrityError):
            _duplicate_in_a_savepoint(session)
    entries = audit_rows(engine, entity="patient")
    assert [e.after["patient_ref"] for e in entries] == ["P-1"]
    assert _ids(engine, Patient) == {entries[0].entity_id}


def test_a_change_without_an_actor_is_attributed_to_the_system_and_says_so(engine: Engine) -> None:
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=NURSE, now=T0)
    (entry,) = audit_rows(engine)
    assert (entry.actor_user, entry.actor_role, entry.note) == (SYSTEM_USER, None, UNATTRIBUTED_NOTE)


def test_a_delete_keeps_every_column_as_before(engine: Engine) -> None:
    with acting_as(NURSE), transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=NURSE, now=T0)
    with acting_as(NURSE), transaction(engine) as session:
        patient = session.scalars(select(Patient)).one()
        session.delete(patient)
    deleted = audit_rows(engine, action="delete")
    assert [(e.entity, e.after) for e in deleted] == [("patient", None)]
    assert deleted[0].before["patient_ref"] == "P-1"
    assert deleted[0].before["body_mass_kg"] == 70.0


def test_a_pump_log_download_is_one_summary_entry_not_one_per_row(
    engine: Engine, settings: Settings, actor: Actor
) -> None:
    station = Station(engine, settings, actor)
    station.clock.advance(timedelta(days=10))  # low reservoir, then empty: several log entries
    with acting_as(actor):
        station.start()  # interrogates: the pump's log arrives
    with transaction(engine) as session:
        rows = session.exec(sqlmodel_select(DeviceLogRecord).where(DeviceLogRecord.source == "pump")).all()
    downloaded = len(rows)
    assert downloaded > 1
    summaries = [e for e in audit_rows(engine, entity="device_log") if e.entity_id is None]
    assert len(summaries) == 1
    assert summaries[0].after["rows"] == downloaded
    assert summaries[0].actor_user == actor.user
    assert str(summaries[0].note).startswith("device data")


def _logout_then_fail(engine: Engine) -> None:
    with acting_as(NURSE), transaction(engine) as session:
        record_event(session, AuditAction.LOGOUT, "user_account", "nurse-7")
        raise RuntimeError("rolled back")


def test_a_named_event_joins_the_chain_at_commit_and_not_on_rollback(engine: Engine) -> None:
    with acting_as(NURSE), transaction(engine) as session:
        record_event(session, AuditAction.LOGIN, "user_account", "nurse-7", {"method": "password"})
    with pytest.raises(RuntimeError, match="rolled back"):
        _logout_then_fail(engine)
    (entry,) = audit_rows(engine)
    assert (entry.action, entry.entity, entry.entity_id, entry.after) == (
        "login",
        "user_account",
        "nurse-7",
        {"method": "password"},
    )


@pytest.mark.parametrize("statement", ["UPDATE audit_entry SET actor_user = 'x'", "DELETE FROM audit_entry"])
def test_the_database_refuses_to_change_or_delete_an_entry(engine: Engine, statement: str) -> None:
    with acting_as(NURSE), transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=NURSE, now=T0)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    assert len(audit_rows(engine)) == 1


def test_reads_write_nothing(engine: Engine) -> None:
    with acting_as(NURSE), transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=NURSE, now=T0)
    head = chain_head(engine)
    with Session(engine) as session:
        session.scalars(select(Patient)).all()
        session.commit()
    assert chain_head(engine) == head


def test_a_row_changed_several_times_in_one_transaction_is_one_entry(engine: Engine) -> None:
    with acting_as(NURSE), transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=NURSE, now=T0)
        session.flush()
        patient = session.scalars(select(Patient)).one()
        patient.body_mass_kg = 71.0
        session.flush()
        patient.body_mass_kg = 72.0
    with acting_as(NURSE), transaction(engine) as session:
        patient = session.scalars(select(Patient)).one()
        patient.body_mass_kg = 73.0
        session.flush()
        patient.body_mass_kg = 74.0
        patient.station_id = "station-2"
    entries = audit_rows(engine, entity="patient")
    assert [e.action for e in entries] == ["insert", "update"]
    assert entries[0].after["body_mass_kg"] == 72.0  # the row as the first transaction committed it
    assert entries[1].before == {"id": patient.id, "body_mass_kg": 72.0, "station_id": "station-1"}
    assert entries[1].after == {"id": patient.id, "body_mass_kg": 74.0, "station_id": "station-2"}


def _six_entries(engine: Engine) -> None:
    with acting_as(NURSE):
        for i in range(6):
            with transaction(engine) as session:
                register_patient(session, PatientEntry(patient_ref=f"P-{i}", body_mass_kg=70.0), actor=NURSE, now=T0)


def test_the_newest_window_is_checked_from_its_stored_predecessor(engine: Engine) -> None:
    _six_entries(engine)
    with transaction(engine) as session:
        window = verify_audit_chain(session, newest=3)
    assert (window.intact, window.checked, window.last_seq) == (True, 3, 6)
    drop_append_only_triggers(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET actor_user = 'x' WHERE seq IN (2, 5)"))
    with transaction(engine) as session:
        assert verify_audit_chain(session, newest=3).problem == ChainProblem(
            5, ChainFault.ALTERED, "entry 5 was altered: its fields do not give its stored hash"
        )
        whole = verify_audit_chain(session)
    assert whole.problem is not None
    assert whole.problem.seq == 2


def test_the_chain_head_cannot_be_deleted_and_its_loss_is_named(engine: Engine) -> None:
    _six_entries(engine)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_chain_head"))
    drop_chain_head_trigger(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_chain_head"))
    with transaction(engine) as session:
        problem = verify_audit_chain(session).problem
    assert problem is not None
    assert problem.fault is ChainFault.HEAD_MISMATCH


def test_the_scheduler_s_changes_are_the_system_s_at_this_station_in_the_clock_s_time(
    engine: Engine, settings: Settings
) -> None:
    with acting_as(NURSE):
        register_hai(engine, NURSE)
        bill_refill(engine, settings, NURSE, billed_body())
    clock = FixedClock(T0 + timedelta(days=13, hours=12))  # a day before the booked appointment
    RefillScheduler(engine, settings, clock).tick()
    reminders = audit_rows(engine, entity="notification")
    assert reminders
    assert {(e.actor_user, e.actor_role, e.station_id, e.note, e.at) for e in reminders} == {
        (SYSTEM_USER, None, settings.station_id, None, clock.now())
    }
