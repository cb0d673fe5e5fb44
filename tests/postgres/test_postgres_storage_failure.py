"""A PostgreSQL connection lost mid-request is a storage failure (503, retry), and nothing is half-written."""

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from pump_service.errors import StorageUnavailableError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Patient
from tests.support import T0


@pytest.fixture
def admin_dsn(postgres_server: str) -> str:
    """A libpq DSN of the server's maintenance database, to act on the test's connection from outside."""
    return (
        make_url(postgres_server)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


@pytest.mark.postgresql_only("the server terminates the connection (pg_terminate_backend)")
def test_a_connection_killed_mid_transaction_is_storage_unavailable_and_writes_nothing(
    engine: Engine, admin_dsn: str
) -> None:
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
