"""Many rows in one ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, with per-row work done once a column.

SQLAlchemy's executemany path builds a parameter dict and runs every column's bind processor for
every row. A pump-log page is 256 rows whose pump, epoch, time of recording and actor are the
same, and that per-row bookkeeping was half of an ingest's time. Here the values a batch shares are
converted once, the rest once a row, each by its column's own bind processor (the same conversions
and refusals as SQLAlchemy's: a naive datetime is still refused), and the driver gets one
multi-row statement. The statement is rendered with the dialect's quoting and parameter style;
its text is cached per shape.
"""

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["MAX_ROWS_PER_STATEMENT", "insert_skipping_duplicates"]

MAX_ROWS_PER_STATEMENT = 1000  # well inside SQLite's 32,766 and PostgreSQL's 65,535 bound parameters
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_skipping_duplicates(
    connection: Connection,
    table: Table,
    *,
    shared: Mapping[str, Any],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (values of ``columns``, each with the ``shared`` values); returns the new rows' ``returning``.

    A row whose ``key`` is already stored (or repeated in ``rows``) is skipped by the database.
    """
    dialect = connection.dialect
    names = (*shared, *columns)
    unknown = [name for name in (*names, *key, *returning) if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
    common = tuple(_converted(table, name, connection, [value])[0] for name, value in shared.items())
    stored: list[tuple[Any, ...]] = []
    for first in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
        batch = rows[first : first + MAX_ROWS_PER_STATEMENT]
        if any(len(row) != len(columns) for row in batch):
            raise ValueError(f"every row has one value for each of {', '.join(columns)}")
        by_column = [
            _converted(table, name, connection, values)
            for name, values in zip(columns, zip(*batch, strict=True), strict=True)
        ]
        parameters: list[Any] = []
        for values in zip(*by_column, strict=True):
            parameters += common
            parameters += values
        sql = _statement(dialect.name, dialect.paramstyle, table.name, names, tuple(key), tuple(returning), len(batch))
        stored += map(tuple, connection.exec_driver_sql(sql, tuple(parameters)).all())
    return stored


def _converted(table: Table, name: str, connection: Connection, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` as the driver takes them for column ``name``: its type's bind processor, if it has one."""
    dialect = connection.dialect
    convert = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)  # the dialect's own, as SQLAlchemy's
    return values if convert is None else list(map(convert, values))


@lru_cache(maxsize=64)
def _statement(
    dialect: str,
    paramstyle: str,
    table: str,
    names: tuple[str, ...],
    key: tuple[str, ...],
    returning: tuple[str, ...],
    rows: int,
) -> str:
    """The statement's text for ``rows`` rows of ``names``."""
    if dialect not in {"sqlite", "postgresql"}:
        raise NotImplementedError(f"bulk insert is written for SQLite and PostgreSQL, not {dialect}")
    placeholder = _PLACEHOLDERS.get(paramstyle)
    if placeholder is None:
        raise NotImplementedError(f"bulk insert does not render the {paramstyle!r} parameter style ({dialect})")
    group = "(" + ", ".join([placeholder] * len(names)) + ")"
    return (
        f"INSERT INTO {_quote(table)} ({', '.join(map(_quote, names))}) VALUES {', '.join([group] * rows)}"  # noqa: S608
        f" ON CONFLICT ({', '.join(map(_quote, key))}) DO NOTHING RETURNING {', '.join(map(_quote, returning))}"
    )


def _quote(identifier: str) -> str:
    """Double quotes: standard SQL for an identifier, read alike by SQLite and PostgreSQL."""
    return '"' + identifier.replace('"', '""') + '"'
