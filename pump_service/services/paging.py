"""Keyset pagination for every list the service returns: pages of ``items`` and an opaque ``next_cursor``.

A list has a stable order given by a *key* (a tuple of ints, strings, dates or datetimes that is
unique per item, e.g. ``(due_at, serial)``). The cursor carries the key of the last item shown;
the next page starts after it, so inserts and deletes between requests never repeat or skip an
item the way an OFFSET would. Cursors name their list, so one list's cursor is refused by another.

Two ways to use it:

- :func:`select_page` for a list read straight from one table: it adds ``WHERE (key) > (cursor)``,
  ``ORDER BY key`` and ``LIMIT limit + 1`` to a ``select`` (``descending=True`` for newest first).
- :func:`page_of` for a list computed in Python: it sorts it by key and keeps the items after the
  cursor's key.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import literal, tuple_
from sqlalchemy.sql import ColumnElement
from sqlmodel.sql.expression import SelectOfScalar

from pump_service.errors import RuleViolationError

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_CURSOR_LENGTH",
    "MAX_PAGE_LIMIT",
    "KeyPart",
    "Page",
    "PageRequest",
    "decode_cursor",
    "encode_cursor",
    "page_of",
    "rows_page",
    "select_page",
]

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 500
MAX_CURSOR_LENGTH = 400

KeyPart = int | str | date | datetime
_T = TypeVar("_T")
_R = TypeVar("_R")


class PageRequest(BaseModel):
    """Which page: at most ``limit`` items after ``cursor`` (the previous page's ``next_cursor``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: int = Field(DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)
    cursor: str | None = Field(None, max_length=MAX_CURSOR_LENGTH)


class Page(BaseModel, Generic[_T]):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: list[_T]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


def _encode_part(part: KeyPart) -> Any:
    if isinstance(part, datetime):
        return {"dt": part.astimezone(UTC).isoformat()}
    if isinstance(part, date):
        return {"d": part.isoformat()}
    return part


def _decode_part(raw: Any, kind: type) -> KeyPart:
    if kind is datetime and isinstance(raw, dict) and isinstance(raw.get("dt"), str):
        moment = datetime.fromisoformat(raw["dt"])
        if moment.tzinfo is None:
            raise ValueError(raw)
        return moment
    if kind is date and isinstance(raw, dict) and isinstance(raw.get("d"), str):
        return date.fromisoformat(raw["d"])
    if kind is int and isinstance(raw, int) and not isinstance(raw, bool) and -(2**63) <= raw < 2**63:
        return raw
    if kind is str and isinstance(raw, str):
        return raw
    raise ValueError(raw)


def encode_cursor(list_name: str, key: Sequence[KeyPart]) -> str:
    """An opaque cursor after the item whose key is ``key`` in the list ``list_name``."""
    text = json.dumps([list_name, *(_encode_part(p) for p in key)], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(list_name: str, cursor: str, kinds: Sequence[type]) -> tuple[KeyPart, ...]:
    """The key in ``cursor``, each part of the type in ``kinds``.

    Raises:
        RuleViolationError: not a cursor this service issued for ``list_name`` (query parameter ``cursor``).
    """
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if not isinstance(raw, list) or len(raw) != len(kinds) + 1 or raw[0] != list_name:
            raise ValueError(cursor)
        return tuple(_decode_part(part, kind) for part, kind in zip(raw[1:], kinds, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise RuleViolationError(
            "not a cursor of this list (pass next_cursor unchanged)", field="cursor", location="query"
        ) from None


def page_of(
    items: Sequence[_T],
    *,
    key: Callable[[_T], Sequence[KeyPart]],
    kinds: Sequence[type],
    request: PageRequest,
    list_name: str,
    descending: bool = False,
) -> Page[_T]:
    """The page of ``items``, in ``key`` order (ascending unless ``descending``), after the cursor.

    Raises:
        RuleViolationError: a cursor of another list.
    """
    rest: Sequence[_T] = sorted(items, key=lambda item: tuple(key(item)), reverse=descending)
    if request.cursor is not None:
        after = decode_cursor(list_name, request.cursor, kinds)
        rest = [item for item in rest if (tuple(key(item)) < after if descending else tuple(key(item)) > after)]
    shown = list(rest[: request.limit])
    more = len(rest) > request.limit
    return Page(items=shown, next_cursor=encode_cursor(list_name, key(shown[-1])) if more and shown else None)


def select_page(
    statement: SelectOfScalar[_R],
    columns: Sequence[Any],
    kinds: Sequence[type],
    *,
    request: PageRequest,
    list_name: str,
    descending: bool = False,
) -> SelectOfScalar[_R]:
    """``statement`` limited to the page after the cursor, ordered by ``columns``.

    It selects one more row than ``limit``, so :func:`rows_page` can tell whether there is a next page.

    Raises:
        RuleViolationError: a cursor of another list.
    """
    if request.cursor is not None:
        after = decode_cursor(list_name, request.cursor, kinds)
        row_key: ColumnElement[Any] = tuple_(*columns)
        # each bound with its column's type, so stored representations (UTC datetimes) compare alike
        cursor_key = tuple_(*(literal(value, column.type) for value, column in zip(after, columns, strict=True)))
        statement = statement.where(row_key < cursor_key if descending else row_key > cursor_key)
    order = [column.desc() for column in columns] if descending else list(columns)
    return statement.order_by(*order).limit(request.limit + 1)


def rows_page(
    rows: Sequence[_R], *, key: Callable[[_R], Sequence[KeyPart]], request: PageRequest, list_name: str
) -> tuple[list[_R], str | None]:
    """The rows of a :func:`select_page` query cut to ``limit``, and the next cursor (None on the last page)."""
    shown = list(rows[: request.limit])
    more = len(rows) > request.limit
    return shown, encode_cursor(list_name, key(shown[-1])) if more and shown else None
