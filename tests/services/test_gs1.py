"""GS1 vial barcodes: worked real-format examples, and properties of the parser."""

import contextlib
import string
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump_service.errors import RuleViolationError
from pump_service.services.visits.gs1 import GS, VialScan, ndc_of, parse_vial_barcode


def _check_digit(body13: str) -> str:
    """The GS1 mod-10 check digit of a 13-digit GTIN-14 body (weights 3,1,3,... from the left)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body13))
    return str((10 - total % 10) % 10)


def _gtin(indicator: str, ndc10: str) -> str:
    body = indicator + "03" + ndc10
    return body + _check_digit(body)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            # GS1 DataMatrix on a US vial, as a keyboard-wedge scanner types it (symbology id, FNC1 as GS)
            "]d2" + "0100304091234017" + "17270331" + "10AB12C" + GS + "21SN0042",
            VialScan("00304091234017", "0409123401", "AB12C", date(2027, 3, 31), "SN0042"),
            id="DataMatrix with GS separators",
        ),
        pytest.param(
            "(01)00304091234017(17)270200(10)LOT-7",
            VialScan("00304091234017", "0409123401", "LOT-7", date(2027, 2, 28), None),
            id="human-readable, day 00 is the end of the month",
        ),
        pytest.param(
            "(01)00304091234017(17)280200(10)L1",
            VialScan("00304091234017", "0409123401", "L1", date(2028, 2, 29), None),
            id="day 00 in a leap February",
        ),
        pytest.param(
            "0104006381333931" + "10ABC",
            VialScan("04006381333931", None, "ABC", None, None),
            id="a GTIN that is not NDC-based has no NDC",
        ),
    ],
)
def test_worked_vial_barcodes(data: str, expected: VialScan) -> None:
    assert parse_vial_barcode(data) == expected


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param("0100304091234018", "check digit", id="wrong GTIN check digit"),
        pytest.param("17270331" + "10AB", "no GTIN", id="no GTIN"),
        pytest.param("(01)00304091234017(30)5", "(30)", id="an AI not used on vials"),
        pytest.param("(01)00304091234017(17)271332", "17", id="month 13"),
        pytest.param("(01)00304091234017(17)270230", "270230", id="30 February"),
        pytest.param("hello", "not a GS1 element string", id="plain text"),
        pytest.param("]d2", "empty", id="only a symbology identifier"),
        pytest.param("01003040912340171727033110A\x07", "control characters", id="a bell character"),
        pytest.param("(01)00304091234017(10)A(10)B", "twice", id="two lots"),
        pytest.param("0" * 201, "at most 200", id="too long"),
    ],
)
def test_malformed_barcodes_name_the_problem(data: str, problem: str) -> None:
    with pytest.raises(RuleViolationError) as refused:
        parse_vial_barcode(data)
    assert problem in str(refused.value)
    assert refused.value.field == "data"


def test_an_expired_vial_is_flagged_on_the_clinic_day_after_its_expiry() -> None:
    scan = parse_vial_barcode("(01)00304091234017(17)261130(10)X")
    assert not scan.expired(date(2026, 11, 30))
    assert scan.expired(date(2026, 12, 1))


LOT_CHARS = string.ascii_letters + string.digits + "-./"


@given(
    indicator=st.sampled_from("0123456789"),
    ndc10=st.text("0123456789", min_size=10, max_size=10),
    lot=st.text(LOT_CHARS, min_size=1, max_size=20),
    expiry=st.dates(min_value=date(2000, 1, 1), max_value=date(2049, 12, 31)),
    serial=st.none() | st.text(LOT_CHARS, min_size=1, max_size=20),
    readable=st.booleans(),
)
def test_a_generated_barcode_round_trips(
    indicator: str, ndc10: str, lot: str, expiry: date, serial: str | None, readable: bool
) -> None:
    gtin = _gtin(indicator, ndc10)
    yymmdd = expiry.strftime("%y%m%d")
    if readable:
        data = f"(01){gtin}(17){yymmdd}(10){lot}" + (f"(21){serial}" if serial else "")
    else:
        data = f"01{gtin}17{yymmdd}10{lot}" + (f"{GS}21{serial}" if serial else "")
    scan = parse_vial_barcode(data)
    assert scan == VialScan(gtin, ndc10, lot, expiry, serial)
    assert ndc_of(scan.gtin) == ndc10


@given(st.text(max_size=250))
def test_garbage_only_ever_raises_the_documented_error(data: str) -> None:
    try:
        scan = parse_vial_barcode(data)
    except RuleViolationError:
        return
    assert len(scan.gtin) == 14


@given(st.text(string.digits + "()" + GS + "ABC", max_size=60))
def test_near_miss_element_strings_only_ever_raise_the_documented_error(data: str) -> None:
    with contextlib.suppress(RuleViolationError):
        parse_vial_barcode("01" + data)
