"""Shared fixtures: a non-UTC local zone, a private data directory, a fixed clock, a migrated database.

Every test that asks for ``database_url``, ``settings`` or ``engine`` runs twice, ids ``sqlite`` and
``postgresql`` (see :mod:`tests.backends`); the PostgreSQL server is started on first use and the
``postgresql`` variants skip with its reason where it cannot start.
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from pump_service.persistence.db import make_engine
from pump_service.services.actor import Actor
from pump_service.settings import Settings
from tests.backends import DatabaseBackend, PostgresDatabases, SqliteTemplate, backends_for, postgres_or_skip
from tests.support import FixedClock

# No deadline: CI machines are slow and shared. The "ci" profile is derandomized so that a clean
# clone gives the same verdict every time; locally the search stays random and keeps finding cases.
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True, scope="session")
def _local_zone_is_not_utc() -> Iterator[None]:
    """Run everything with a non-UTC local zone so accidental local time shows up as a failure."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if previous is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = previous
    time.tzset()


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the real data directory: PUMP_HOME points at a fresh tmp dir, no PUMP_DATABASE_URL.

    A test that needs its own sets them again with ``monkeypatch``; that wins, as it runs later.
    """
    home = tmp_path_factory.mktemp("pump-home")
    monkeypatch.setenv("PUMP_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    monkeypatch.delenv("PUMP_DATABASE_URL", raising=False)
    monkeypatch.delenv("PUMP_LOG_LEVEL", raising=False)
    return home


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give every database test its ``sqlite`` and ``postgresql`` variants (or the one it is marked for)."""
    if "database_backend" in metafunc.fixturenames:
        backends = backends_for(metafunc.definition)
        metafunc.parametrize("database_backend", backends, indirect=True, ids=[str(b) for b in backends])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the ``postgresql`` variants ``postgres``: ``-m "not postgres"`` runs the SQLite half alone."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database_backend") == DatabaseBackend.POSTGRESQL:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def database_backend(request: pytest.FixtureRequest) -> DatabaseBackend:
    return DatabaseBackend(request.param)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL (without database) of a PostgreSQL server living for this test session (or a skip)."""
    with postgres_or_skip() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: str) -> PostgresDatabases:
    return PostgresDatabases(postgres_server)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture
def database_url(database_backend: DatabaseBackend, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database migrated to head, on this variant's backend (dropped after the test)."""
    if database_backend is DatabaseBackend.SQLITE:
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
        yield template.copy_to(tmp_path / "pump.db")
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    with databases.database() as url:
        yield url


@pytest.fixture
def empty_database_url(
    database_backend: DatabaseBackend, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh database with no tables at all, for migration tests."""
    if database_backend is DatabaseBackend.SQLITE:
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    with databases.database(migrated=False) as url:
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, station_id="test-station", clinic_tz="America/New_York")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the test's database, already migrated to head (a copy of the session's template)."""
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def actor() -> Actor:
    return Actor(user="nurse-7", station_id="test-station")
