"""Reading the data files: TOML and CSV with strict fields and effective-date windows.

Every error is a :class:`BillingDataError` naming the file and the entry (a TOML key or a CSV line
and code), because the people who fix these files are billing staff, not programmers. CSV files may
carry ``#`` comment lines before the header. Rows are selected by date with :func:`select_in_effect`:
per key, the newest row whose ``[effective_from, effective_to)`` window contains the date.
"""

import csv
import io
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Generic, TypeVar

from pump_service.billing.errors import BillingDataError

__all__ = ["Dated", "Entry", "change_dates", "csv_day", "read_csv", "read_toml", "select_in_effect"]

T = TypeVar("T")
_MISSING: Any = object()


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file.

    Raises:
        BillingDataError: the file is missing or is not valid TOML.
    """
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise BillingDataError("file not found", file=path.name) from None
    except tomllib.TOMLDecodeError as exc:
        raise BillingDataError(f"not valid TOML: {exc}", file=path.name) from None


def read_csv(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield ``(entry, row)`` for each data row; ``entry`` is ``"line N"`` for error messages.

    Raises:
        BillingDataError: the file is missing, or its header is not exactly ``columns``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BillingDataError("file not found", file=path.name) from None
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")), len(lines))
    reader = csv.reader(io.StringIO("\n".join(lines[first:])))
    header = tuple(next(reader, ()))
    if header != columns:
        raise BillingDataError(f"header must be {','.join(columns)} (got {','.join(header)})", file=path.name)
    for offset, values in enumerate(reader, start=first + 2):
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        if len(values) != len(columns):
            raise BillingDataError(
                f"expected {len(columns)} columns, got {len(values)}", file=path.name, entry=f"line {offset}"
            )
        yield f"line {offset}", {k: v.strip() for k, v in zip(columns, values, strict=True)}


class Entry:
    """Typed, strict access to one TOML table or CSV row; :meth:`done` refuses unknown keys."""

    def __init__(self, data: Mapping[str, Any], *, file: str, entry: str) -> None:
        if not isinstance(data, Mapping):
            raise BillingDataError("expected a table", file=file, entry=entry)
        self._data = data
        self._used: set[str] = set()
        self.file = file
        self.entry = entry

    def error(self, message: str) -> BillingDataError:
        return BillingDataError(message, file=self.file, entry=self.entry)

    def value(self, key: str, default: Any, kind: type | tuple[type, ...], label: str) -> Any:
        self._used.add(key)
        if key not in self._data:
            if default is _MISSING:
                raise self.error(f"missing key {key!r}")
            return default
        value = self._data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.error(f"{key!r} must be {label}, got {value!r}")
        return value

    def text(self, key: str, default: Any = _MISSING, *, pattern: str | None = None) -> str:
        value = self.value(key, default, str, "a string")
        if pattern is not None and value is not default and not re.fullmatch(pattern, value):
            raise self.error(f"{key!r} = {value!r} does not match {pattern}")
        return value  # type: ignore[no-any-return]

    def flag(self, key: str, default: Any = _MISSING) -> bool:
        return self.value(key, default, bool, "true or false")  # type: ignore[no-any-return]

    def day(self, key: str, default: Any = _MISSING) -> date:
        return self.value(key, default, date, "a date (YYYY-MM-DD)")  # type: ignore[no-any-return]

    def number(self, key: str, default: Any = _MISSING) -> float:
        return float(self.value(key, default, (int, float), "a number"))

    def texts(self, key: str, default: Any = _MISSING) -> tuple[str, ...]:
        value = self.value(key, default, list, "a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise self.error(f"{key!r} must be a list of strings")
        return tuple(value)

    def tables(self, key: str, default: Any = _MISSING) -> list[Mapping[str, Any]]:
        """An array of tables (``[[key]]``)."""
        value = self.value(key, default, list, "an array of tables")
        if not all(isinstance(v, Mapping) for v in value):
            raise self.error(f"{key!r} must be an array of tables")
        return value  # type: ignore[no-any-return]

    def table(self, key: str, default: Any = _MISSING) -> Mapping[str, Any]:
        return self.value(key, default, dict, "a table")  # type: ignore[no-any-return]

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._used)
        if unknown:
            raise self.error(f"unknown key(s) {', '.join(map(repr, unknown))}")


@dataclass(frozen=True, slots=True)
class Dated(Generic[T]):
    """One row or entry with its effective window (``effective_to`` exclusive, None = open)."""

    key: str
    effective_from: date
    effective_to: date | None
    value: T
    entry: str

    def in_effect(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on < self.effective_to)


def csv_day(value: str, *, file: str, entry: str) -> date:
    """Parse an ISO date cell.

    Raises:
        BillingDataError: not ``YYYY-MM-DD``.
    """
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BillingDataError(f"expected a date YYYY-MM-DD, got {value!r}", file=file, entry=entry) from None


def select_in_effect(rows: Iterable[Dated[T]], on: date, *, file: str) -> dict[str, T]:
    """Per key, the value of the newest row in effect on ``on``.

    Raises:
        BillingDataError: two rows for one key start on the same date, or a window ends before it starts.
    """
    chosen: dict[str, Dated[T]] = {}
    seen: dict[tuple[str, date], str] = {}
    for row in rows:
        if row.effective_to is not None and row.effective_to <= row.effective_from:
            raise BillingDataError("effective_to must be after effective_from", file=file, entry=row.entry)
        if (row.key, row.effective_from) in seen:
            raise BillingDataError(
                f"{row.key} is listed twice from {row.effective_from} (also {seen[row.key, row.effective_from]})",
                file=file,
                entry=row.entry,
            )
        seen[row.key, row.effective_from] = row.entry
        if row.in_effect(on) and (row.key not in chosen or row.effective_from > chosen[row.key].effective_from):
            chosen[row.key] = row
    return {key: row.value for key, row in chosen.items()}


def change_dates(rows: Iterable[Dated[Any]]) -> set[date]:
    """Every date on which some row starts or stops applying."""
    found: set[date] = set()
    for row in rows:
        found.add(row.effective_from)
        if row.effective_to is not None:
            found.add(row.effective_to)
    return found
