"""Fixtures of the drills that stop, restart or terminate PostgreSQL under the service."""

from collections.abc import Iterator

import pytest

from testbench.throwaway_postgres import PostgresUnavailableError, throwaway_postgres


@pytest.fixture(scope="module")
def restartable_postgres() -> Iterator[str]:
    """A throwaway server of the module's own (not the session's): its drills stop and restart it."""
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailableError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
