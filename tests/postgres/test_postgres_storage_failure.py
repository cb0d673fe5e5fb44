"""A PostgreSQL connection lost mid-request is a storage failure (503, retry), and nothing is half-written."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from pump_service.errors import StorageUnavailableError
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Patient
from tests.support import T0

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(postgres_server: str) -> Iterator[tuple[Engine, str]]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_server).set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{postgres_server}/{name}")
    upgrade(engine)
    yield engine, dsn
    engine.dispose()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_connection_killed_mid_transaction_is_storage_unavailable_and_writes_nothing(
    pg_engine: tuple[Engine, str],
) -> None:
    engine, admin_dsn = pg_engine
    with pytest.raises(StorageUnavailableError) as caught, transaction(engine) as session:  # noqa: PT012
        session.add(Patient(patient_ref="P-LOST", created_at=T0, created_by="t", station_id="s"))
        session.flush()
        backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))  # the server drops this connection
        session.execute(text("SELECT 1"))
    assert caught.value.retry_after_s > 0
    with transaction(engine) as session:  # the pool recovers; the patient was never committed
        assert session.exec(select(Patient).where(Patient.patient_ref == "P-LOST")).first() is None
