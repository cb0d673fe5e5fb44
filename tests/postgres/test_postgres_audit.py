"""The audit chain, written for PostgreSQL and run on both: append and verify, concurrent writers; TRUNCATE refused."""

import threading

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor, acting_as
from pump_service.services.audit import verify_audit_chain
from pump_service.services.contracts import PatientEntry
from pump_service.services.pumps.registry import register_patient
from tests.audit_support import audit_rows, chain_head, drop_append_only_triggers
from tests.support import T0

NURSE = Actor(user="nurse-1", station_id="test-station")


def _patients(engine: Engine, refs: list[str]) -> None:
    with acting_as(NURSE):
        for ref in refs:
            with transaction(engine) as session:
                register_patient(session, PatientEntry(patient_ref=ref, body_mass_kg=70.0), actor=NURSE, now=T0)


def test_entries_append_and_verify_and_an_alteration_is_named(engine: Engine, database_url: str) -> None:
    _patients(engine, ["P-1", "P-2", "P-3"])
    entries = audit_rows(engine)
    assert [(e.seq, e.entity, e.actor_user) for e in entries] == [(i, "patient", "nurse-1") for i in (1, 2, 3)]
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "verify", "--database-url", database_url])
    assert (result.exit_code, result.stdout.strip()) == (0, "audit chain intact: 3 entries, last sequence 3")
    drop_append_only_triggers(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET station_id = 'elsewhere' WHERE seq = 2"))
    result = runner.invoke(app, ["audit", "verify", "--database-url", database_url])
    assert result.exit_code == 1
    assert "audit chain broken at entry 2: altered" in result.stderr


def test_concurrent_writers_take_turns_on_the_chain_head(engine: Engine) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            _patients(engine, [f"W{worker}-{i}" for i in range(10)])
        except BaseException as exc:  # collected and re-raised by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [e.seq for e in audit_rows(engine)] == list(range(1, 41))
    assert chain_head(engine)[0] == 40
    with transaction(engine) as session:
        assert verify_audit_chain(session).intact


@pytest.mark.postgresql_only("SQLite has no TRUNCATE (UPDATE and DELETE: tests/services/test_audit_trail.py)")
@pytest.mark.parametrize("table", ["audit_entry", "audit_chain_head"])
def test_the_database_refuses_to_truncate_the_trail(engine: Engine, table: str) -> None:
    _patients(engine, ["P-1"])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {table}"))
    assert len(audit_rows(engine)) == 1
