"""Revision 0004 on PostgreSQL: down to 0003 and up again, with a re-baselined pump's log in it."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import current_revision, downgrade, head_revision, upgrade
from pump_service.persistence.models import DeviceLogRecord
from pump_service.services.actor import Actor
from pump_service.services.contracts import PumpRegistration
from pump_service.services.pumps.registry import register_pump
from tests.support import T0

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(postgres_server: str) -> Iterator[Engine]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_server).set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{postgres_server}/{name}")
    yield engine
    engine.dispose()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_0004_downgrades_and_upgrades_on_postgresql(pg_engine: Engine) -> None:
    upgrade(pg_engine)
    actor = Actor(user="nurse-1", station_id="pg-station")
    body = {"serial": "SM-1", "model_id": "programmable-20", "route": "intrathecal"}
    with transaction(pg_engine) as session:
        pump = register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
        pump.log_epoch = 1
        for epoch in (0, 1):  # index 0 twice: before and after a restart
            session.add(
                DeviceLogRecord(
                    pump_id=pump.id or 0,
                    source="pump",
                    log_epoch=epoch,
                    log_index=0,
                    entry_type="REFILLED",
                    recorded_at=T0,
                    actor=actor.user,
                    station_id=actor.station_id,
                )
            )
    downgrade(pg_engine, "0003")
    assert current_revision(pg_engine) == "0003"
    with pg_engine.connect() as connection:
        indices = connection.execute(text("SELECT log_index FROM device_log WHERE source = 'pump'")).scalars().all()
    assert sorted(indices, key=lambda i: -1 if i is None else i) == [None, 0]
    upgrade(pg_engine)
    assert current_revision(pg_engine) == head_revision()
    with pg_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
