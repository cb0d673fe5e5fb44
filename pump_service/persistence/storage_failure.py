"""Recognise a database that cannot take work now (locked, full, read-only, I/O error, connection lost).

These are conditions of the storage, not of the request: the transaction is rolled back and the
caller is told to retry (HTTP 503 with Retry-After), never a 500. :func:`storage_failure` reads a
SQLAlchemy error and names the condition, or returns None for errors that are the code's own fault.
"""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError

__all__ = ["StorageCondition", "StorageFailure", "reconnect_after_storage_failures", "storage_failure"]


class StorageCondition(StrEnum):
    LOCKED = "locked"
    READ_ONLY = "read-only"
    FULL = "full"
    IO_ERROR = "io-error"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class StorageFailure:
    condition: StorageCondition
    retry_after_s: int

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self.condition]

    @property
    def needs_new_connection(self) -> bool:
        """A connection that met this condition keeps it: SQLite opens a file it may not write read-only for good."""
        return self.condition in _STICKY


_EXPLANATIONS = {
    StorageCondition.LOCKED: "the database is busy with another writer; nothing was stored, retry shortly",
    StorageCondition.READ_ONLY: "the database is read-only; nothing was stored",
    StorageCondition.FULL: "the database's disk is full; nothing was stored",
    StorageCondition.IO_ERROR: "the database's disk reported an I/O error; nothing was stored",
    StorageCondition.UNREACHABLE: "the database cannot be reached; nothing was stored",
}

# Lower-case fragments of SQLite and PostgreSQL messages (sqlite3 has no error codes before 3.11's
# sqlite_errorname, and psycopg's SQLSTATE is checked first where there is one).
_SQLITE_MESSAGES = (
    ("database is locked", StorageCondition.LOCKED),
    ("database table is locked", StorageCondition.LOCKED),
    ("readonly database", StorageCondition.READ_ONLY),
    ("read-only", StorageCondition.READ_ONLY),
    ("disk is full", StorageCondition.FULL),
    ("no space left", StorageCondition.FULL),
    ("disk i/o error", StorageCondition.IO_ERROR),
    ("unable to open database", StorageCondition.IO_ERROR),
)
_SQLSTATE_CLASSES = {
    "53": StorageCondition.FULL,  # insufficient resources (53100 disk full)
    "08": StorageCondition.UNREACHABLE,  # connection exception
    "57": StorageCondition.UNREACHABLE,  # operator intervention (admin shutdown, crash shutdown)
    "58": StorageCondition.IO_ERROR,  # system error (58030 io_error)
    "40": StorageCondition.LOCKED,  # transaction rollback (serialization failure, deadlock)
    "55": StorageCondition.LOCKED,  # object not in prerequisite state (55P03 lock_not_available)
}
# Conditions a pooled connection keeps after the cause is gone (measured: a server started on a
# read-only file still refused every write after the file was made writable again).
_STICKY = frozenset({StorageCondition.READ_ONLY, StorageCondition.IO_ERROR, StorageCondition.UNREACHABLE})
_RETRY_AFTER_S = {
    StorageCondition.LOCKED: 2,
    StorageCondition.READ_ONLY: 60,
    StorageCondition.FULL: 60,
    StorageCondition.IO_ERROR: 30,
    StorageCondition.UNREACHABLE: 10,
}


def _condition(exc: DBAPIError) -> StorageCondition | None:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        if sqlstate == "25006":  # read_only_sql_transaction (a hot standby, default_transaction_read_only)
            return StorageCondition.READ_ONLY
        found = _SQLSTATE_CLASSES.get(sqlstate[:2])
        if found is not None:
            return found
    message = str(exc.orig).lower()
    for fragment, condition in _SQLITE_MESSAGES:
        if fragment in message:
            return condition
    if exc.connection_invalidated:
        return StorageCondition.UNREACHABLE
    if isinstance(exc, OperationalError) and type(exc.orig).__module__.startswith("psycopg"):
        return StorageCondition.UNREACHABLE  # the server went away mid-request (no SQLSTATE to read)
    return None  # e.g. SQLite's "no such table": a bug or an unmigrated schema, not a retryable state


def storage_failure(exc: BaseException) -> StorageFailure | None:
    """The storage condition behind ``exc``, or None when ``exc`` is not one (a bug, a constraint)."""
    if not isinstance(exc, OperationalError | InternalError) and not (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return None
    condition = _condition(exc)
    if condition is None:
        return None
    return StorageFailure(condition, _RETRY_AFTER_S[condition])


def reconnect_after_storage_failures(engine: Engine) -> None:
    """Treat a sticky storage condition as a lost connection, so the pool opens fresh ones once it is fixed.

    SQLAlchemy then discards the connection and every one pooled before it (``is_disconnect``), and
    the next request reopens the file: writable again, the service recovers without a restart.
    """

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        failure = storage_failure(context.sqlalchemy_exception) if context.sqlalchemy_exception else None
        if failure is not None and failure.needs_new_connection:
            context.is_disconnect = True
