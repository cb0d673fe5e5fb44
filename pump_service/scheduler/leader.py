"""One scheduler per database: two APScheduler 3 processes on one store run every job twice.

SQLite (one station): an exclusive ``flock`` on a file beside the database. PostgreSQL: a session
advisory lock held on a dedicated connection for as long as the scheduler runs. Whoever does not
get the lock serves the API without a scheduler.
"""

import fcntl
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

__all__ = ["LeaderLock", "acquire_leader_lock"]

ADVISORY_LOCK_KEY = 0x70756D70  # "pump"


class LeaderLock(Protocol):
    def release(self) -> None: ...


class _FileLock:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


class _AdvisoryLock:
    def __init__(self, engine: Engine) -> None:
        self._connection: Connection = engine.connect()
        held = self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
        self._connection.commit()
        if not held:
            self._connection.close()
            raise OSError("another scheduler holds the advisory lock")

    def release(self) -> None:
        self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
        self._connection.close()


def acquire_leader_lock(engine: Engine) -> LeaderLock | None:
    """The scheduler lock for the database behind ``engine``, or None if another process holds it."""
    url = make_url(str(engine.url))
    try:
        if url.get_backend_name() == "sqlite":
            database = url.database or ":memory:"
            if database == ":memory:":
                return _FileLock(Path(f"/tmp/pump-service-{os.getpid()}.scheduler.lock"))  # noqa: S108
            return _FileLock(Path(f"{database}.scheduler.lock"))
        return _AdvisoryLock(engine)
    except OSError:
        return None
