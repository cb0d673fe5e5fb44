"""The scheduler's leader lock: one holder per database, which can be tried again and checked cheaply.

Two APScheduler 3 processes on one store would run every job twice, so only the holder of this lock
ticks (election.py decides when to try and when to check).

- SQLite (the processes of one station): an exclusive ``flock`` on ``<database>.scheduler.lock``.
  The holder writes its instance id into the file, so the others can say who leads. The kernel
  drops the lock when the holder dies, however it dies.
- PostgreSQL: a session advisory lock held on a dedicated connection of its own (never one of the
  pool's, which the service's requests would share); its ``application_name`` names the instance,
  so ``pg_locks`` joined with ``pg_stat_activity`` says who leads. The server drops the lock when
  that session ends: the process died (kill -9 closes its socket), the backend was terminated
  (``pg_terminate_backend``) or the server restarted. :meth:`AdvisoryLeaderLock.confirm` asks the
  server whether this session still holds it, which fails at once on a dead connection.
"""

import fcntl
import os
import threading
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

__all__ = [
    "ADVISORY_LOCK_KEY",
    "AdvisoryLeaderLock",
    "FileLeaderLock",
    "LeaderLock",
    "leader_lock_for",
]

log = structlog.get_logger(__name__)

ADVISORY_LOCK_KEY = 0x70756D70  # "pump"
APPLICATION_NAME_PREFIX = "pump-service-leader:"
_MAX_APPLICATION_NAME = 63  # PostgreSQL truncates longer names (NAMEDATALEN - 1)
# A dead peer (no RST: a cut cable, a frozen VM) is noticed within seconds, not TCP's minutes.
_CONNECT_ARGS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 10_000,
}

_HELD_HERE = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND classid = 0 AND objid::bigint = :key AND objsubid = 1)"
)
_HOLDER = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid = 0 AND l.objid::bigint = :key AND l.objsubid = 1"
)


class LeaderLock(Protocol):
    """A lock that at most one instance holds per database."""

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True if this instance holds it afterwards."""
        ...

    def confirm(self) -> bool:
        """Whether this instance still holds the lock (a cheap check; False drops what is left of it)."""
        ...

    def release(self) -> None:
        """Give the lock up (nothing happens if it is not held)."""
        ...

    def holder(self) -> str | None:
        """The instance id of the current holder, where the lock can tell; None if free or unknown."""
        ...

    def dispose(self) -> None:
        """Release the lock and whatever the lock opened for itself."""
        ...


class FileLeaderLock:
    """``flock`` on a file beside the SQLite database; the holder's instance id is the file's content."""

    def __init__(self, path: Path, instance_id: str) -> None:
        self.path = path
        self._instance_id = instance_id
        self._fd: int | None = None
        self._mutex = threading.Lock()

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._fd is not None:
                return self._still_ours()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.pwrite(fd, self._instance_id.encode(), 0)
            self._fd = fd
            return True

    def confirm(self) -> bool:
        with self._mutex:
            return self._fd is not None and self._still_ours()

    def _still_ours(self) -> bool:
        """The lock is ours while the file we locked is still the one at the path (not deleted or replaced)."""
        if self._fd is None:
            return False
        try:
            same = os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            same = False
        if not same:
            self._close()
        return same

    def release(self) -> None:
        with self._mutex:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                self._close()

    def dispose(self) -> None:
        self.release()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def holder(self) -> str | None:
        with self._mutex:
            if self._fd is not None:
                return self._instance_id
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return os.pread(fd, 256, 0).decode(errors="replace") or None  # held: by whoever wrote it
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds it; the content is a past holder's
        finally:
            os.close(fd)


class AdvisoryLeaderLock:
    """A PostgreSQL session advisory lock on a dedicated connection named after the instance."""

    def __init__(self, engine: Engine, instance_id: str, *, key: int = ADVISORY_LOCK_KEY) -> None:
        self._engine = engine  # the service's pool: used only to ask who holds the lock
        self._key = key
        self._instance_id = instance_id
        name = (APPLICATION_NAME_PREFIX + instance_id)[:_MAX_APPLICATION_NAME]
        url = make_url(engine.url.render_as_string(hide_password=False))
        # NullPool: closing the connection ends the session, and with it the lock.
        self._lock_engine = create_engine(
            url, poolclass=NullPool, hide_parameters=True, connect_args={**_CONNECT_ARGS, "application_name": name}
        )
        self._connection: Connection | None = None
        self._mutex = threading.Lock()

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._connection is not None:
                return self._confirm()
            try:
                connection = self._lock_engine.connect()
            except DBAPIError as exc:
                log.warning("leader_lock_unreachable", error=type(exc.orig).__name__)
                return False
            try:
                held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar())
                connection.commit()
            except DBAPIError as exc:
                log.warning("leader_lock_unreachable", error=type(exc.orig).__name__)
                held = False
            if not held:
                _close_quietly(connection)
                return False
            self._connection = connection
            return True

    def confirm(self) -> bool:
        with self._mutex:
            return self._confirm()

    def _confirm(self) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            held = bool(connection.execute(_HELD_HERE, {"key": self._key}).scalar())
            connection.commit()
        except DBAPIError:
            held = False
        if not held:
            self._connection = None
            _close_quietly(connection)
        return held

    def release(self) -> None:
        with self._mutex:
            connection, self._connection = self._connection, None
            if connection is None:
                return
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
                connection.commit()
            except DBAPIError:
                pass  # the session is gone, and the lock with it
            _close_quietly(connection)

    def holder(self) -> str | None:
        with self._mutex:
            if self._connection is not None:
                return self._instance_id
        try:
            with self._engine.connect() as connection:
                name = connection.execute(_HOLDER, {"key": self._key}).scalar()
        except DBAPIError:
            return None
        if not isinstance(name, str):
            return None
        return name.removeprefix(APPLICATION_NAME_PREFIX) if name.startswith(APPLICATION_NAME_PREFIX) else None

    def dispose(self) -> None:
        """Release the lock and close the lock's own engine."""
        self.release()
        self._lock_engine.dispose()


def _close_quietly(connection: Connection) -> None:
    try:
        connection.close()
    except DBAPIError:
        connection.invalidate()


def leader_lock_for(engine: Engine, instance_id: str) -> FileLeaderLock | AdvisoryLeaderLock:
    """The scheduler lock for the database behind ``engine``, not yet taken."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ":memory:"
        if database == ":memory:":
            return FileLeaderLock(Path(f"/tmp/pump-service-{os.getpid()}.scheduler.lock"), instance_id)  # noqa: S108
        return FileLeaderLock(Path(f"{database}.scheduler.lock"), instance_id)
    return AdvisoryLeaderLock(engine, instance_id)
