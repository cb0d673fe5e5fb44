"""Backup and restore of a SQLite station database through SQLite's online backup API.

Copying ``pump.db`` with ``cp`` while the server runs can catch a page half-written or miss what is
still in the ``-wal`` file. ``sqlite3.Connection.backup`` copies every page inside one read
transaction: a consistent snapshot, taken while writers go on (WAL readers never block them), that
holds every refill committed before the copy began. The copy is written beside the destination,
checked (``PRAGMA integrity_check``, schema revision, row counts) and only then renamed into place,
so a failed backup never leaves a file that looks like a good one.

Restore writes the backup into the live file through the same API (never a file rename under an
open ``-wal``, which SQLite would replay onto the wrong database), after saving what was there.
It refuses while a server runs the scheduler on the database (the flock beside it is held) and
when the backup's schema revision is not one this code knows.
"""

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from pump_service.errors import ConflictError, ServiceError
from pump_service.persistence.migrate import head_revision, make_config

__all__ = [
    "BackupError",
    "CopyReport",
    "backup_sqlite",
    "inspect_sqlite",
    "restore_sqlite",
    "scheduler_lock_path",
]


class BackupError(ServiceError):
    """A backup or restore could not be made or verified; nothing was replaced."""


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What a backup file (or the database after a restore) holds, as verified."""

    path: str
    revision: str | None
    integrity: str
    row_counts: dict[str, int]
    size_bytes: int
    compatible: bool = True  # the revision is one of this code's migrations
    saved_previous: str | None = None  # restore: where the replaced database was saved
    notes: list[str] = field(default_factory=list)


def scheduler_lock_path(database: Path) -> Path:
    """The file a running ``serve`` holds an exclusive flock on (see ``pump_service.scheduler.leader``)."""
    return Path(f"{database}.scheduler.lock")


def _tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [str(row[0]) for row in rows]


def inspect_sqlite(path: Path) -> CopyReport:
    """Integrity, schema revision and row counts of the SQLite file at ``path`` (read only)."""
    if not path.is_file():
        raise BackupError(f"no database file at {path}")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            integrity = "; ".join(str(row[0]) for row in connection.execute("PRAGMA integrity_check"))
            tables = _tables(connection)
            counts = {name: int(connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in tables}  # noqa: S608
            revision = None
            if "alembic_version" in tables:
                row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = None if row is None else str(row[0])
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from exc
    counts.pop("alembic_version", None)
    return CopyReport(
        path=str(path),
        revision=revision,
        integrity=integrity,
        row_counts=counts,
        size_bytes=path.stat().st_size,
        compatible=_known_revision(revision),
    )


def _known_revision(revision: str | None) -> bool:
    if revision is None:
        return False
    try:
        return ScriptDirectory.from_config(make_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _copy(source: Path, target: sqlite3.Connection) -> None:
    """Every page of ``source`` into ``target`` in one step: one read snapshot of the source."""
    with closing(sqlite3.connect(source, timeout=30)) as connection:
        connection.backup(target)


def backup_sqlite(database: Path, destination: Path, *, force: bool = False) -> CopyReport:
    """Copy the live database at ``database`` to ``destination`` and verify the copy.

    Raises:
        ConflictError: ``destination`` exists and ``force`` is not given.
        BackupError: the database is missing, or the copy cannot be written or fails its checks.
    """
    if not database.is_file():
        raise BackupError(f"no database file at {database}")
    if destination.resolve() == database.resolve():
        raise BackupError("the backup destination is the database itself")
    if destination.exists() and not force:
        raise ConflictError(f"{destination} exists: give --force to overwrite it")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        with closing(sqlite3.connect(partial, isolation_level=None)) as target:
            _copy(database, target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        _fsync(partial)
        report = inspect_sqlite(partial)
        if report.integrity != "ok":
            raise BackupError(f"the copy failed its integrity check: {report.integrity}")
        if report.revision is None:
            raise BackupError(f"{database} has no schema revision: run pump-service migrate first")
        os.replace(partial, destination)
        _fsync(destination.parent)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"cannot write the backup {destination}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return replace(report, path=str(destination))


@contextmanager
def _no_server_running(database: Path) -> Iterator[None]:
    """Hold the scheduler flock for the block; refuse if a running ``serve`` holds it."""
    lock = scheduler_lock_path(database)
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise ConflictError(
                f"a pump-service server is running on {database} (it holds {lock.name}): stop it before restoring"
            ) from exc
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the flock


def restore_sqlite(database: Path, source: Path, *, now: datetime) -> CopyReport:
    """Replace the database at ``database`` by the backup ``source``; what was there is saved first.

    Raises:
        ConflictError: a server runs on ``database``.
        BackupError: ``source`` is damaged or from a schema revision this code does not know.
    """
    backup = inspect_sqlite(source)
    if backup.integrity != "ok":
        raise BackupError(f"{source} failed its integrity check: {backup.integrity}")
    if not backup.compatible:
        raise BackupError(
            f"{source} is at schema revision {backup.revision}, which this version does not know "
            f"(its head is {head_revision()}): restore it with the version that made it"
        )
    database.parent.mkdir(parents=True, exist_ok=True)
    saved: Path | None = None
    with _no_server_running(database):
        try:
            if database.is_file():
                saved = database.with_name(f"{database.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
                backup_sqlite(database, saved)
            with closing(sqlite3.connect(database, timeout=30, isolation_level=None)) as target:
                _copy(source, target)
                target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except (OSError, sqlite3.Error) as exc:
            raise BackupError(f"cannot restore into {database}: {exc}") from exc
    restored = inspect_sqlite(database)
    if restored.row_counts != backup.row_counts or restored.revision != backup.revision:
        raise BackupError(f"{database} does not match {source} after the restore; the previous one is at {saved}")
    notes = []
    if backup.revision != head_revision():
        notes.append(f"schema at {backup.revision}, the code's head is {head_revision()}: run pump-service migrate")
    return replace(restored, saved_previous=None if saved is None else str(saved), notes=notes)
