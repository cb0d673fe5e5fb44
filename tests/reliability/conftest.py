"""Fixtures of the drills that stop, restart or terminate PostgreSQL under the service."""

from collections.abc import Iterator

import pytest

from tests.backends import postgres_or_skip


@pytest.fixture(scope="module")
def restartable_postgres() -> Iterator[str]:
    """A throwaway server of the module's own (not the session's): its drills stop and restart it."""
    with postgres_or_skip() as url:
        yield url
