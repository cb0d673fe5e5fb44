"""Engine and transactions. SQLite runs in WAL mode with ``BEGIN IMMEDIATE``.

pysqlite only emits ``BEGIN`` at the first write, so a read-then-write in one session is not
atomic and concurrent writers lose updates; taking the write lock when the transaction starts
fixes that (measured: 0 lost updates instead of 532 in 900). PostgreSQL needs nothing special.

Reads that decide nothing on their own (the scheduler's candidate queries, lists) use
:func:`read_transaction`: on SQLite a deferred ``BEGIN``, a WAL snapshot that never takes the
write lock, so a long read does not make writers wait.

Writers of one SQLite file in this process queue for their turn in arrival order
(:mod:`~pump_service.persistence.writer_queue`) before ``BEGIN IMMEDIATE``, instead of all polling
in SQLite's busy handler until one gives up with "database is locked". PostgreSQL has row locks and
needs no such queue; its pool pings a connection before use and replaces one the server dropped.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from pump_service.errors import StorageUnavailableError
from pump_service.persistence.storage_failure import reconnect_after_storage_failures, storage_failure
from pump_service.persistence.writer_queue import QueuedWriterConnection, writer_queue_for

__all__ = ["make_engine", "read_transaction", "transaction"]

_READ_ONLY = "pump_read_only"
_SERVER_DETAIL_PREFIXES = ("DETAIL:", "CONTEXT:")
# How long a writer waits for its turn before it is told the database is busy (HTTP 503, retry):
# longer than SQLite's busy_timeout, as the turns are served in order and each is short.
WRITER_QUEUE_TIMEOUT_S = 30.0
PG_CONNECT_TIMEOUT_S = 5


def _configure_sqlite(engine: Engine, url: URL, writer_queue_timeout_s: float) -> None:
    queue = writer_queue_for(url.database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # stop pysqlite's own implicit BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed refill (and the visit row written before the pump is) survives a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        raw = conn.connection.dbapi_connection
        if isinstance(raw, QueuedWriterConnection) and raw.writer_turn is None:
            if not queue.acquire(writer_queue_timeout_s):
                raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
            raw.writer_turn = queue  # ended by the connection's commit or rollback
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if isinstance(raw, QueuedWriterConnection):
                raw.end_writer_turn()
            raise


def make_engine(database_url: str, *, writer_queue_timeout_s: float = WRITER_QUEUE_TIMEOUT_S) -> Engine:
    """An engine for ``database_url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    For a SQLite file the parent directory is created, and its writers take turns in arrival order
    (waiting at most ``writer_queue_timeout_s`` for theirs). Bound parameters are never shown in error
    messages (``hide_parameters``): they hold patient references, and errors end up in logs.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 5, "check_same_thread": False, "factory": QueuedWriterConnection},
            hide_parameters=True,
        )
        _configure_sqlite(engine, url, writer_queue_timeout_s)
    else:
        # PostgreSQL: a pooled connection the server dropped (a restart, a failover) is found by a ping
        # at checkout and replaced, so the first request after the database is back succeeds; a server
        # that does not answer at all is given up after PG_CONNECT_TIMEOUT_S (a 503), not the OS's minutes.
        connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args)
        _keep_row_values_out_of_errors(engine)
    reconnect_after_storage_failures(engine)
    return engine


def _primary_message(message: str) -> str:
    """``message`` without PostgreSQL's DETAIL and CONTEXT lines and what follows them."""
    lines = message.splitlines()
    for number, line in enumerate(lines):
        if line.startswith(_SERVER_DETAIL_PREFIXES):
            return "\n".join(lines[:number]).rstrip()
    return message


def _keep_row_values_out_of_errors(engine: Engine) -> None:
    """Keep PostgreSQL's DETAIL out of error messages: it quotes row values, and errors end up in logs.

    ``Key (patient_ref)=(P-123) already exists`` and ``Failing row contains (...)`` are what
    ``hide_parameters`` cannot hide, as the server writes them. The primary message and the SQLSTATE
    stay; the detail is still in ``exc.orig.diag`` for code that needs it.
    """

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        for error in (context.original_exception, context.sqlalchemy_exception):
            if error is not None and len(error.args) == 1 and isinstance(error.args[0], str):
                error.args = (_primary_message(error.args[0]),)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception.

    Raises:
        StorageUnavailableError: the database is locked, full, read-only or gone (rolled back).
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except DBAPIError as exc:
            _roll_back(session)
            failure = storage_failure(exc)
            if failure is None:
                raise
            raise StorageUnavailableError(failure.explanation, retry_after_s=failure.retry_after_s) from exc
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Session]:
    """A session that only reads: one consistent snapshot, rolled back at the end, never the write lock.

    Raises:
        StorageUnavailableError: the database is locked, full, read-only or gone.
        RuntimeError: the block changed an ORM object (a programming error: use :func:`transaction`).
    """
    with Session(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False) as session:
        try:
            yield session
            if session.new or session.dirty or session.deleted:
                raise RuntimeError("read_transaction: the block changed rows; writes belong in transaction()")
        except DBAPIError as exc:
            _roll_back(session)
            failure = storage_failure(exc)
            if failure is None:
                raise
            raise StorageUnavailableError(failure.explanation, retry_after_s=failure.retry_after_s) from exc
        finally:
            session.rollback()


def _roll_back(session: Session) -> None:
    """Roll back after a storage error; a connection that is already gone cannot roll back, and need not."""
    try:
        session.rollback()
    except DBAPIError:
        session.invalidate()
