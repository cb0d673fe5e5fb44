"""The CSV tables: fee schedule, Medically Unlikely Edits and NCCI procedure-to-procedure pairs.

Each row has ``effective_from``/``effective_to`` columns; the loader selects the rows in effect.
Cells are strict: codes must look like CPT/HCPCS codes, prices are numbers, ``NA`` (not payable in
that setting) or empty (unknown); MAIs are 1-3; modifier indicators 0, 1 or 9.
"""

import math
import re
from datetime import date
from pathlib import Path

from pump_service.billing.errors import BillingDataError
from pump_service.billing.reference import FeeEntry, MueLimit, PtpEdit, SettingRate
from pump_service.billing.tables import Dated, Entry, csv_day, read_csv

__all__ = ["read_fee_rows", "read_mue_rows", "read_ptp_rows"]

_CODE = r"(?:[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})"
_FEE_COLUMNS = (
    "code",
    "effective_from",
    "effective_to",
    "work_rvu",
    "facility_total_rvu",
    "nonfacility_total_rvu",
    "facility_usd",
    "nonfacility_usd",
    "source",
)
_MUE_COLUMNS = ("code", "effective_from", "effective_to", "mue_units", "mai", "status", "source")
_PTP_COLUMNS = ("column_1", "column_2", "modifier_indicator", "effective_from", "effective_to", "status", "source")


def _price(value: str, entry: str, file: str) -> tuple[float | None, bool]:
    if value == "NA":
        return None, True
    if not value:
        return None, False
    try:
        number = float(value)
    except ValueError:
        raise BillingDataError(f"expected a number, NA or empty, got {value!r}", file=file, entry=entry) from None
    if not math.isfinite(number) or number < 0:
        raise BillingDataError(f"{value!r} must be a non-negative number", file=file, entry=entry)
    return number, False


def _dated_csv(
    path: Path, columns: tuple[str, ...], key_columns: tuple[str, ...]
) -> list[tuple[Entry, str, date, date | None, dict[str, str]]]:
    out = []
    for line, row in read_csv(path, columns):
        key = "/".join(row[c] for c in key_columns)
        entry = Entry(row, file=path.name, entry=f"{line} {key}")
        for column in key_columns:
            if not re.fullmatch(_CODE, row[column]):
                raise entry.error(f"{column} {row[column]!r} is not a CPT/HCPCS code")
        start = csv_day(row["effective_from"], file=path.name, entry=entry.entry)
        end = csv_day(row["effective_to"], file=path.name, entry=entry.entry) if row["effective_to"] else None
        out.append((entry, key, start, end, row))
    return out


def read_fee_rows(path: Path) -> list[Dated[FeeEntry]]:
    """Every fee schedule row, dated.

    Raises:
        BillingDataError: missing file, wrong header, a malformed code, date or price, or both RVUs
            and dollars for one setting.
    """
    rows = []
    for entry, key, start, end, row in _dated_csv(path, _FEE_COLUMNS, ("code",)):
        rates = {}
        for setting in ("facility", "nonfacility"):
            rvu, rvu_na = _price(row[f"{setting}_total_rvu"], entry.entry, path.name)
            usd, usd_na = _price(row[f"{setting}_usd"], entry.entry, path.name)
            if rvu is not None and usd is not None:
                raise entry.error(f"{setting}: give RVUs or dollars, not both")
            rates[setting] = SettingRate(rvu=rvu, usd=usd, not_payable=rvu_na or usd_na)
        work, _ = _price(row["work_rvu"], entry.entry, path.name)
        fee = FeeEntry(key, work, rates["facility"], rates["nonfacility"], row["source"])
        rows.append(Dated(key, start, end, fee, entry.entry))
    return rows


def read_mue_rows(path: Path) -> list[Dated[MueLimit]]:
    """Every MUE row, dated.

    Raises:
        BillingDataError: missing file, wrong header, a malformed code or date, units or MAI.
    """
    rows = []
    for entry, key, start, end, row in _dated_csv(path, _MUE_COLUMNS, ("code",)):
        if not row["mue_units"].isdigit() or row["mai"] not in {"1", "2", "3"}:
            raise entry.error("mue_units must be a whole number and mai 1, 2 or 3")
        limit = MueLimit(key, int(row["mue_units"]), int(row["mai"]), row["status"])
        rows.append(Dated(key, start, end, limit, entry.entry))
    return rows


def read_ptp_rows(path: Path) -> list[Dated[PtpEdit]]:
    """Every NCCI pair, dated, keyed ``column_1/column_2``.

    Raises:
        BillingDataError: missing file, wrong header, a malformed code, date or modifier indicator.
    """
    rows = []
    for entry, key, start, end, row in _dated_csv(path, _PTP_COLUMNS, ("column_1", "column_2")):
        if row["modifier_indicator"] not in {"0", "1", "9"}:
            raise entry.error("modifier_indicator must be 0, 1 or 9")
        if row["column_1"] == row["column_2"]:
            raise entry.error("a code cannot be paired with itself")
        edit = PtpEdit(row["column_1"], row["column_2"], int(row["modifier_indicator"]), row["status"])
        rows.append(Dated(key, start, end, edit, entry.entry))
    return rows
