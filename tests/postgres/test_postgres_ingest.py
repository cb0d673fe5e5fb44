"""Pump-log ingest on PostgreSQL: the same bulk insert with ON CONFLICT DO NOTHING and RETURNING."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import upgrade
from pump_service.services.actor import Actor
from tests.ingest_support import check_overlapping_pages

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(postgres_server: str) -> Iterator[Engine]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_server).set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{postgres_server}/{name}")
    upgrade(engine)
    yield engine
    engine.dispose()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_page_is_one_insert_and_overlaps_are_skipped_by_the_database(pg_engine: Engine, actor: Actor) -> None:
    check_overlapping_pages(pg_engine, actor)
