"""The audit chain on PostgreSQL: append and verify, concurrent writers, the append-only trigger."""

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.actor import Actor, acting_as
from pump_service.services.audit import verify_audit_chain
from pump_service.services.contracts import PatientEntry
from pump_service.services.pumps.registry import register_patient
from tests.audit_support import audit_rows, chain_head, drop_append_only_triggers
from tests.support import T0

pytestmark = pytest.mark.postgres
NURSE = Actor(user="nurse-1", station_id="pg-station")


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_server).set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server}/{name}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _patients(engine: Engine, refs: list[str]) -> None:
    with acting_as(NURSE):
        for ref in refs:
            with transaction(engine) as session:
                register_patient(session, PatientEntry(patient_ref=ref, body_mass_kg=70.0), actor=NURSE, now=T0)


def test_entries_append_and_verify_and_an_alteration_is_named(pg_engine: Engine, pg_url: str) -> None:
    _patients(pg_engine, ["P-1", "P-2", "P-3"])
    entries = audit_rows(pg_engine)
    assert [(e.seq, e.entity, e.actor_user) for e in entries] == [(i, "patient", "nurse-1") for i in (1, 2, 3)]
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "verify", "--database-url", pg_url])
    assert (result.exit_code, result.stdout.strip()) == (0, "audit chain intact: 3 entries, last sequence 3")
    drop_append_only_triggers(pg_engine)
    with pg_engine.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET station_id = 'elsewhere' WHERE seq = 2"))
    result = runner.invoke(app, ["audit", "verify", "--database-url", pg_url])
    assert result.exit_code == 1
    assert "audit chain broken at entry 2: altered" in result.stderr


def test_concurrent_writers_take_turns_on_the_chain_head(pg_engine: Engine) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            _patients(pg_engine, [f"W{worker}-{i}" for i in range(10)])
        except BaseException as exc:  # collected and re-raised by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [e.seq for e in audit_rows(pg_engine)] == list(range(1, 41))
    assert chain_head(pg_engine)[0] == 40
    with transaction(pg_engine) as session:
        assert verify_audit_chain(session).intact


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET actor_user = 'x'",
        "DELETE FROM audit_entry",
        "TRUNCATE audit_entry",
        "DELETE FROM audit_chain_head",
    ],
)
def test_the_database_refuses_to_change_an_entry(pg_engine: Engine, statement: str) -> None:
    _patients(pg_engine, ["P-1"])
    with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as connection:
        connection.execute(text(statement))
    assert len(audit_rows(pg_engine)) == 1
