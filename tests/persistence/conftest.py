"""Fixtures of the persistence tests: an engine on an empty database (no tables), on each backend."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from pump_service.persistence.db import make_engine


@pytest.fixture
def empty_engine(empty_database_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()
