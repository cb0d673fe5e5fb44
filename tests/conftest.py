"""Shared fixtures: a non-UTC local zone, a private data directory, a fixed clock, a migrated SQLite database."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import upgrade
from pump_service.services.actor import Actor
from pump_service.settings import Settings
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/pump.db", station_id="test-station", clinic_tz="America/New_York"
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def actor() -> Actor:
    return Actor(user="nurse-7", station_id="test-station")
