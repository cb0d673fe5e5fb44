"""The two database backends every database test runs on: a SQLite file and a throwaway PostgreSQL 15.

Migrating takes a tenth of a second on SQLite and more on PostgreSQL, and some 450 tests want a
fresh database each, so the schema is migrated once per session into a template and each test gets
a copy: a file copy on SQLite, ``CREATE DATABASE t_N TEMPLATE tmpl`` on PostgreSQL (dropped after
the test). The migrations themselves are tested from an empty database, on both backends, in
``tests/persistence/test_migrations.py``.

A test that only makes sense on one backend says so with a one-line reason::

    @pytest.mark.sqlite_only("the SQLite writer queue")
    @pytest.mark.postgresql_only("advisory locks")
"""

import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import upgrade
from testbench.throwaway_postgres import PostgresUnavailableError, throwaway_postgres

__all__ = [
    "DatabaseBackend",
    "PostgresDatabases",
    "SqliteTemplate",
    "backends_for",
    "postgres_or_skip",
    "sqlite_path",
]

SQLITE_ONLY = "sqlite_only"
POSTGRESQL_ONLY = "postgresql_only"
TEMPLATE_DATABASE = "pump_template"


class DatabaseBackend(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


def backends_for(test: pytest.Item) -> list[DatabaseBackend]:
    """The backends a test runs on: both, unless it is marked ``sqlite_only`` or ``postgresql_only``.

    Raises:
        pytest.UsageError: the marker gives no reason, or the test is marked with both.
    """
    marks = {name: list(test.iter_markers(name=name)) for name in (SQLITE_ONLY, POSTGRESQL_ONLY)}
    for name, found in marks.items():
        for mark in found:
            if not (mark.args and isinstance(mark.args[0], str) and mark.args[0].strip()):
                raise pytest.UsageError(f"{test.nodeid}: @pytest.mark.{name} needs a one-line reason")
    if marks[SQLITE_ONLY] and marks[POSTGRESQL_ONLY]:
        raise pytest.UsageError(f"{test.nodeid}: marked both sqlite_only and postgresql_only")
    if marks[SQLITE_ONLY]:
        return [DatabaseBackend.SQLITE]
    if marks[POSTGRESQL_ONLY]:
        return [DatabaseBackend.POSTGRESQL]
    return [DatabaseBackend.SQLITE, DatabaseBackend.POSTGRESQL]


def sqlite_path(database_url: str) -> Path:
    """The file behind a ``sqlite:///`` URL.

    Raises:
        ValueError: the URL is not a SQLite file's.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ValueError("not a SQLite file URL")
    return Path(url.database)


class SqliteTemplate:
    """One SQLite file migrated to head per session; each test gets a copy of it."""

    def __init__(self, folder: Path) -> None:
        self._template = folder / "template.db"
        engine = make_engine(f"sqlite:///{self._template}")
        try:
            upgrade(engine)
        finally:
            engine.dispose()  # the last connection checkpoints the WAL into the file: one file to copy

    def copy_to(self, target: Path) -> str:
        """The URL of a migrated database at ``target`` (a fresh copy of the template)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._template, target)
        return f"sqlite:///{target}"


class PostgresDatabases:
    """Databases on one throwaway server: a template migrated once, and per-test copies or empty ones."""

    def __init__(self, server_url: str) -> None:
        self._server_url = server_url
        admin = make_url(server_url).set(drivername="postgresql", database="postgres")
        self._admin_dsn = admin.render_as_string(hide_password=False)
        self._names = itertools.count(1)
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DATABASE)))
        engine = make_engine(f"{server_url}/{TEMPLATE_DATABASE}")
        try:
            upgrade(engine)
        finally:
            engine.dispose()  # CREATE DATABASE ... TEMPLATE refuses while anyone is connected to it

    @property
    def server_url(self) -> str:
        return self._server_url

    @contextmanager
    def database(self, *, migrated: bool = True) -> Iterator[str]:
        """The URL of a new database for the block (migrated, or empty), dropped afterwards."""
        name = f"t_{next(self._names)}"
        template = TEMPLATE_DATABASE if migrated else "template0"
        self._execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        try:
            yield f"{self._server_url}/{name}"
        finally:
            # FORCE: a test may leave an engine or a server subprocess connected.
            self._execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _execute(self, statement: sql.Composed) -> None:
        with psycopg.connect(self._admin_dsn, autocommit=True) as connection:
            connection.execute(statement)


@contextmanager
def postgres_or_skip() -> Iterator[str]:
    """Base URL of a throwaway PostgreSQL server for the block; skips the test, with the reason, where none starts."""
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailableError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
