"""A throwaway PostgreSQL 15 for the ``postgres``-marked tests, started and removed by the suite.

The server comes from :mod:`testbench.throwaway_postgres` (shared with the API benchmark); where
PostgreSQL 15 or the ``postgres`` user is missing the tests are skipped with the reason.
"""

from collections.abc import Iterator

import pytest

from testbench.throwaway_postgres import PostgresUnavailableError, throwaway_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL (without database) of a PostgreSQL server living for this test session."""
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))
