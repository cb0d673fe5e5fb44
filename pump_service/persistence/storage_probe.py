"""Can the database take a write now? A real write that changes nothing, committed.

Reading proves little: a read-only SQLite file (chmod 444 for a non-root user, a read-only
mount) opens, reads and even takes ``BEGIN IMMEDIATE`` (verified on SQLite 3.40 in WAL mode); only
a write fails, with "attempt to write a readonly database". And a write that is rolled back never
reaches the disk: with the file size limit at zero (a quota, a full disk that also refuses the
WAL to grow) the rolled-back probe said "ok" while every refill got "disk I/O error". So the probe
updates the one ``alembic_version`` row to itself and commits: the row is unchanged, but the
page goes through the WAL and its fsync exactly as a refill's would, so every condition that would
refuse a refill (read-only, locked, full, I/O error, connection lost) refuses the probe the same
way. For a SQLite file the free space of its directory is read too, since a nearly full disk fails
the next write that grows the file or its WAL.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from pump_service.persistence.storage_failure import StorageCondition, StorageFailure, storage_failure

__all__ = ["StorageProbe", "probe_storage"]


@dataclass(frozen=True, slots=True)
class StorageProbe:
    revision: str | None
    failure: StorageFailure | None
    free_bytes: int | None  # of the SQLite file's directory; None for a server database


def _free_bytes(engine: Engine) -> int | None:
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return shutil.disk_usage(Path(url.database).resolve().parent).free


def probe_storage(engine: Engine) -> StorageProbe:
    """Read the schema revision and commit a write that changes nothing; never raises for a storage condition."""
    revision: str | None = None
    try:
        with engine.connect() as connection, connection.begin():  # commits, or rolls back on an error
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
    except DBAPIError as exc:
        failure = storage_failure(exc) or StorageFailure(StorageCondition.UNREACHABLE, 10)
        return StorageProbe(revision=revision, failure=failure, free_bytes=_free_bytes(engine))
    return StorageProbe(revision=revision, failure=None, free_bytes=_free_bytes(engine))
