"""CSV export: one row per event under the fixed header :data:`CSV_COLUMNS`.

Lists (modifiers, diagnoses, dx pointers) are joined with ``;``; datetimes are ISO 8601 UTC with
``Z``; empty cells mean "none". Text cells that a spreadsheet would run as a formula (leading
``=``, ``+``, ``-``, ``@``) are prefixed with ``'``. Columns are only ever added at the end, so
readers that index by position keep working.
"""

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime
from enum import Enum

from pump_service.billing.charges import ChargeEvent

__all__ = ["CSV_COLUMNS", "export_csv"]

CSV_COLUMNS: tuple[str, ...] = (
    "event_id",
    "kind",
    "original_event_id",
    "visit_key",
    "revision",
    "line_number",
    "patient_ref",
    "service_date",
    "service_at",
    "recorded_at",
    "code_system",
    "code",
    "descriptor",
    "modifiers",
    "units",
    "ndc",
    "ndc_qty",
    "ndc_unit",
    "diagnoses",
    "dx_pointers",
    "performer_id",
    "performer_role",
    "supervising_id",
    "place_of_service",
    "payer_profile",
    "rule",
    "status",
    "status_reason",
    "bundled_into",
    "narrative",
    "lot",
    "expected_allowable_usd",
    "allowable_basis",
    "patient_liability_usd",
    "review_required",
)
_FORMULA_START = ("=", "+", "-", "@")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ";".join(_cell(v) for v in value)
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def export_csv(events: Iterable[ChargeEvent]) -> str:
    """All ``events`` as CSV text with a header row (CRLF line ends, RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow([_cell(getattr(event, column)) for column in CSV_COLUMNS])
    return buffer.getvalue()
