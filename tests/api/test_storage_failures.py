"""A database that cannot take a write (read-only, locked, full) is a 503 problem with Retry-After, never a 500.

Each condition is real: a read-only file (chmod 444; as root, whom file modes do not stop, the
file is also made immutable with chattr), a write lock held by another connection, and a
database at its page limit (SQLite's own "database or disk is full"). Nothing is half-written:
after the condition is lifted the refused request has left no row behind.
"""

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.errors import StorageUnavailableError
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Patient
from pump_service.persistence.storage_failure import StorageCondition, storage_failure
from pump_service.settings import Settings
from tests.auth_support import login_client
from tests.support import T0, FixedClock

NURSE: dict[str, str] = {}  # the bearer header of the nurse the `migrated` fixture signs up
PROBLEM = "application/problem+json"


def _patients(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as connection:
        return [row[0] for row in connection.execute("SELECT patient_ref FROM patient ORDER BY patient_ref")]


def _client(settings: Settings, engine: Engine) -> TestClient:
    return TestClient(create_app(settings, clock=FixedClock(), engine=engine), headers=NURSE)


def _short_busy_timeout(engine: Engine) -> Engine:
    """Wait 50 ms (not 5 s) for a lock, so the locked case is quick; runs after make_engine's own PRAGMAs."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    return engine


@pytest.fixture
def migrated(settings: Settings) -> Path:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with login_client(create_app(settings, clock=FixedClock(), engine=engine), Role.NURSE) as client:
        NURSE.clear()
        NURSE["Authorization"] = client.headers["Authorization"]  # taken before the file is made read-only
        assert client.post("/patients", json={"patient_ref": "P-1"}).status_code == 201
    engine.dispose()
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    with closing(sqlite3.connect(database)) as connection:  # fold the WAL back in: the file alone holds the data
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database


def _writable(database: Path) -> bool:
    probe = sqlite3.connect(database, isolation_level=None)
    try:
        probe.execute("UPDATE alembic_version SET version_num = version_num")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()  # an open read-write handle would be reused by SQLite after chattr
    return True


@pytest.fixture
def read_only(migrated: Path) -> Iterator[Path]:
    """The database file made read-only for this process, for real (chmod; chattr +i when running as root)."""
    migrated.chmod(0o444)
    immutable = False
    try:
        if _writable(migrated):  # root: file modes do not stop it
            if shutil.which("chattr") is None:
                pytest.skip("running as root and chattr is missing: cannot make a file read-only")
            done = subprocess.run(["chattr", "+i", str(migrated)], check=False, capture_output=True)
            if done.returncode != 0:
                pytest.skip(f"running as root and chattr +i failed: {done.stderr.decode().strip()}")
            immutable = True
        assert not _writable(migrated)
        yield migrated
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(migrated)], check=True)
        migrated.chmod(0o644)


@pytest.mark.sqlite_only("the SQLite file itself is made read-only, locked or full")
def test_a_write_to_a_read_only_database_is_a_503_problem_with_retry_after(settings: Settings, read_only: Path) -> None:
    engine = make_engine(settings.database_url)
    try:
        with _client(settings, engine) as client:
            assert client.get("/pumps").status_code == 200  # reading still works
            response = client.post("/patients", json={"patient_ref": "P-2"}, headers=NURSE)
            health = client.get("/health")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"].isdigit()
    assert response.json()["type"] == "urn:pump-service:problem:storage-unavailable"
    assert "read-only" in response.json()["detail"]
    assert health.status_code == 503
    assert health.headers["content-type"] == PROBLEM
    assert health.json()["type"] == "urn:pump-service:problem:unhealthy"
    assert "read-only" in health.json()["detail"]
    assert _patients(read_only) == ["P-1"]


@pytest.mark.sqlite_only("a second sqlite3 connection holds the file's write lock")
def test_a_write_while_another_connection_holds_the_lock_is_a_503_and_lands_once_the_lock_is_gone(
    settings: Settings, migrated: Path
) -> None:
    engine = _short_busy_timeout(make_engine(settings.database_url))
    holder = sqlite3.connect(migrated, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # a real write lock, as a long transaction elsewhere would hold
        with _client(settings, engine) as client:
            refused = client.post("/patients", json={"patient_ref": "P-2"}, headers=NURSE)
            assert refused.status_code == 503
            assert refused.headers["content-type"] == PROBLEM
            assert refused.json()["type"] == "urn:pump-service:problem:storage-unavailable"
            assert "busy" in refused.json()["detail"]
            assert int(refused.headers["retry-after"]) >= 1
            assert client.get("/health").status_code == 503
            holder.execute("ROLLBACK")
            assert _patients(migrated) == ["P-1"]  # nothing half-written while it was locked
            assert client.post("/patients", json={"patient_ref": "P-2"}, headers=NURSE).status_code == 201
            assert client.get("/health").status_code == 200
    finally:
        holder.close()
        engine.dispose()
    assert _patients(migrated) == ["P-1", "P-2"]


def _fill(engine: Engine) -> None:
    with transaction(engine) as session:
        session.add(Patient(patient_ref="P-FULL", created_at=T0, created_by="t", station_id="s"))
        session.flush()
        for _ in range(50):
            session.execute(text("INSERT INTO filler VALUES (zeroblob(4096))"))


@pytest.mark.sqlite_only("SQLite's max_page_count makes the file full")
def test_a_full_database_is_a_storage_failure_and_rolls_back(settings: Settings, migrated: Path) -> None:
    engine = make_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE filler (blob BLOB)"))

    @event.listens_for(engine, "connect")
    def _cap(dbapi_conn: Any, _record: Any) -> None:
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + 2}")  # SQLite's own SQLITE_FULL past this

    engine.dispose()  # reconnect, so the cap applies
    try:
        with pytest.raises(StorageUnavailableError) as caught:
            _fill(engine)
        failure = storage_failure(caught.value.__cause__) if caught.value.__cause__ else None
        assert failure is not None
        assert failure.condition is StorageCondition.FULL
        assert caught.value.retry_after_s > 0
        with transaction(engine) as session:
            assert session.exec(select(Patient).where(Patient.patient_ref == "P-FULL")).first() is None
    finally:
        engine.dispose()


@pytest.mark.sqlite_only("the free space of the SQLite file's disk")
def test_health_reports_a_nearly_full_disk_as_unhealthy(settings: Settings, migrated: Path) -> None:
    engine = make_engine(settings.database_url)
    try:
        app = create_app(settings, clock=FixedClock(), engine=engine)
        app.state.health_min_free_bytes = shutil.disk_usage(migrated.parent).free * 2  # more than the disk has
        with TestClient(app) as client:
            response = client.get("/health")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert "nearly full" in response.json()["detail"]
    assert response.json()["free_bytes"] > 0


@pytest.mark.sqlite_only("reads the patients back from the SQLite file directly")
def test_health_is_ok_when_the_database_takes_a_write_and_changes_nothing(settings: Settings, migrated: Path) -> None:
    engine = make_engine(settings.database_url)
    try:
        with _client(settings, engine) as client:
            first = client.get("/health")
            second = client.get("/health")
    finally:
        engine.dispose()
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "ok"
    assert first.json()["schema_revision"] == first.json()["expected_revision"]
    assert _patients(migrated) == ["P-1"]


def test_a_database_error_never_shows_the_bound_values(engine: Engine) -> None:
    """Errors end up in logs; a patient reference bound into a failed statement must not."""
    with pytest.raises(IntegrityError) as caught, transaction(engine) as session:  # noqa: PT012
        session.add(Patient(patient_ref="P-SECRET-REF", created_at=T0, created_by="t", station_id="s"))
        session.flush()
        session.add(Patient(patient_ref="P-SECRET-REF", created_at=T0, created_by="t", station_id="s"))
    assert "P-SECRET-REF" not in str(caught.value)
    assert "P-SECRET-REF" not in str(caught.value.orig)  # PostgreSQL's DETAIL quotes the key: kept out too
