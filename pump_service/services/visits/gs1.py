r"""A vial's GS1 barcode, as a keyboard-wedge scanner types it, turned into GTIN, NDC, lot, expiry and serial.

Scanners type the element string with FNC1 as the GS character (``\\x1d``), sometimes behind a
symbology identifier (``]d2`` for GS1 DataMatrix, ``]C1`` for GS1-128); people type the
human-readable form with the AIs in parentheses, ``(01)00304091234014(17)270331(10)AB12``.
Both are parsed with biip. The AIs used here:

- ``01`` GTIN-14. A US drug's GTIN is NDC-based: indicator digit, ``03``, the 10-digit NDC, check
  digit; the NDC's 4-4-2 / 5-3-2 / 5-4-1 hyphenation is not in the code, so it is given unhyphenated.
- ``17`` expiry YYMMDD; day ``00`` means the last day of the month.
- ``10`` lot, ``21`` serial.

Anything else (no GTIN, a wrong check digit, an unknown AI, an impossible date, stray bytes) is
refused with a :class:`RuleViolationError` naming the problem. The drug catalogue carries no
NDCs, so the drug itself is still chosen by the nurse; the scan fills lot and expiry, and an
expired vial is flagged (and is a ``drug_expired`` hard stop when the refill is planned).
"""

from dataclasses import dataclass
from datetime import date

from biip import ParseError
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

from pump_service.errors import RuleViolationError

__all__ = ["MAX_SCAN_CHARS", "VialScan", "parse_vial_barcode"]

MAX_SCAN_CHARS = 200
GS = "\x1d"
_SYMBOLOGY_PREFIXES = ("]C1", "]e0", "]d2", "]Q3", "]J1")
_KNOWN_AIS = frozenset({"01", "17", "10", "21"})


@dataclass(frozen=True, slots=True)
class VialScan:
    """What the vial's barcode says."""

    gtin: str  # 14 digits
    ndc: str | None  # 10 digits, unhyphenated, when the GTIN is NDC-based
    lot: str | None
    expires_on: date | None
    serial: str | None

    def expired(self, today: date) -> bool:
        """Expired when its expiry day is before ``today`` (the clinic's local date)."""
        return self.expires_on is not None and self.expires_on < today


def ndc_of(gtin14: str) -> str | None:
    """The 10-digit NDC inside an NDC-based GTIN-14 (indicator + ``03`` + NDC10 + check), else None."""
    if len(gtin14) == 14 and gtin14[1:3] == "03":
        return gtin14[3:13]
    return None


def _message(data: str) -> GS1Message:
    text = data.strip("\r\n\t ")
    for prefix in _SYMBOLOGY_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.lstrip(GS)  # some scanners send a leading FNC1
    if not text:
        raise RuleViolationError("the barcode is empty", field="data")
    if any(c != GS and not c.isprintable() for c in text):
        raise RuleViolationError("the barcode holds control characters other than GS (FNC1)", field="data")
    try:
        return GS1Message.parse_hri(text) if text.startswith("(") else GS1Message.parse(text)
    except (ParseError, ValueError) as exc:
        raise RuleViolationError(f"not a GS1 element string: {exc}", field="data") from exc


def parse_vial_barcode(data: str) -> VialScan:
    """Parse a scanned (or typed) GS1 element string.

    Raises:
        RuleViolationError: too long, not GS1, an AI this station does not use, no GTIN, a GTIN
            with a wrong check digit or two values for one AI.
    """
    if len(data) > MAX_SCAN_CHARS:
        raise RuleViolationError(f"a vial barcode has at most {MAX_SCAN_CHARS} characters", field="data")
    message = _message(data)
    values: dict[str, str] = {}
    expires_on: date | None = None
    for element in message.element_strings:
        ai = element.ai.ai
        if ai not in _KNOWN_AIS:
            raise RuleViolationError(
                f"AI ({ai}) {element.ai.data_title} is not used on a drug vial here: expected (01), (17), (10), (21)",
                field="data",
            )
        if ai in values:
            raise RuleViolationError(f"AI ({ai}) appears twice", field="data")
        values[ai] = element.value
        if ai == "17":
            if element.date is None:
                raise RuleViolationError(f"expiry {element.value!r} is not a date (YYMMDD)", field="data")
            expires_on = element.date
    if "01" not in values:
        raise RuleViolationError("the barcode has no GTIN (AI 01)", field="data")
    try:
        gtin = Gtin.parse(values["01"]).as_gtin_14()
    except (ParseError, ValueError) as exc:
        raise RuleViolationError(f"GTIN {values['01']}: {exc}", field="data") from exc
    return VialScan(
        gtin=gtin,
        ndc=ndc_of(gtin),
        lot=values.get("10"),
        expires_on=expires_on,
        serial=values.get("21"),
    )
