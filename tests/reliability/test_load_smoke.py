"""The load bench (``bench/load.py``), briefly: stations against one PostgreSQL, 0 errors, 0 duplicates.

The figures of a two-second run mean nothing (and timings are never asserted); what it proves is
that the bench's path works end to end: real ``pump-service serve`` processes, concurrent
stations, every refill answered 201 and stored once, no slot or pump booked twice.
"""

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bench.load import load_figures
from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import upgrade
from testbench.throwaway_postgres import PostgresUnavailableError, throwaway_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def load_url() -> Iterator[str]:
    try:
        with throwaway_postgres() as base:
            admin = make_url(base).set(drivername="postgresql", database="postgres")
            with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as connection:
                connection.execute('CREATE DATABASE "load_smoke"')
            url = f"{base}/load_smoke"
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            yield url
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))


def test_a_short_load_run_has_no_errors_no_duplicates_and_loses_nothing(load_url: str) -> None:
    figures = {r.name: r.value for r in load_figures(load_url, duration_s=2.0, levels=(1, 5), server_count=2)}
    for clients in (1, 5):
        prefix = f"load_pg_c{clients}"
        assert figures[f"{prefix}.req_per_s"] > 0  # refills were recorded
        assert figures[f"{prefix}.errors"] == 0
        assert figures[f"{prefix}.duplicates"] == 0
        assert figures[f"{prefix}.lost"] == 0
