"""Units: the one pint registry, the unit allow-list, and canonical-unit pydantic types.

Every quantity that crosses a boundary (API, CLI, protocol, files) is a string such as
``"2.5 mL/h"``. It is parsed here, checked against the dimension the field expects, and turned
into a plain float in the field's canonical unit (``mL``, ``mL/day``, ``mg/mL``...). Inside the
service only those floats travel; pint never runs in a hot path.

User-typed unit spellings are *never* handed to pint raw: pint reads ``U`` as the enzyme unit
(umol/min) and ``unit`` as micro-nit. Each unit word is looked up in :data:`UNIT_ALIASES` and only
then parsed. Heparin activity lives in its own base dimension, so it can never be converted to a
volume or a mass by accident.

This module may import only the standard library, pint and pydantic.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeAlias

import pint
from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "KINDS",
    "Q_",
    "UNIT_ALIASES",
    "ActivityUspU",
    "AltitudeM",
    "BodyMassKg",
    "ConcMgPerMl",
    "ConcUspUPerMl",
    "DoseMgPerDay",
    "DoseMgPerKgPerDay",
    "DoseUspUPerDay",
    "DurationDays",
    "MassMg",
    "PressureMmHg",
    "QuantityKind",
    "RateMlPerDay",
    "TemperatureDegC",
    "UnitError",
    "VolumeMl",
    "format_quantity",
    "parse_quantity",
    "to_canonical",
    "ureg",
]

ureg: "Final[pint.UnitRegistry[Any]]" = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
# Heparin (and other USP/IU-labelled drugs) get their own base dimension: 1000 USP units/mL
# times 2.5 mL/h converts to USP units/day, but never to mL, mg or pint's enzyme unit "U".
# USP and IU heparin units are treated as 1:1 (harmonised since 2009; confirm per product).
ureg.define("USP_unit = [drug_activity] = USP_U")
ureg.define("international_unit_activity = USP_unit = IU_act")
pint.set_application_registry(ureg)  # type: ignore[no-untyped-call]
Q_: Final = ureg.Quantity
Quantity: TypeAlias = "pint.Quantity[Any]"


class UnitError(ValueError):
    """A quantity string that cannot be read, or that has the wrong dimension for its field."""


# Every unit word a user, file or device may write, mapped to the name pint is given.
# Keys are matched exactly (case-sensitive: "mL" and "ml" are both listed, "ML" is not).
UNIT_ALIASES: Final[dict[str, str]] = {
    # volume
    "mL": "milliliter",
    "ml": "milliliter",
    "milliliter": "milliliter",
    "milliliters": "milliliter",
    "millilitre": "milliliter",
    "millilitres": "milliliter",
    "cc": "milliliter",
    "L": "liter",
    "l": "liter",
    "liter": "liter",
    "liters": "liter",
    "litre": "liter",
    "uL": "microliter",
    "µL": "microliter",
    "μL": "microliter",
    "microliter": "microliter",
    # time
    "d": "day",
    "day": "day",
    "days": "day",
    "h": "hour",
    "hr": "hour",
    "hrs": "hour",
    "hour": "hour",
    "hours": "hour",
    "min": "minute",
    "minute": "minute",
    "minutes": "minute",
    "s": "second",
    "sec": "second",
    "second": "second",
    "seconds": "second",
    "wk": "week",
    "week": "week",
    "weeks": "week",
    # mass
    "kg": "kilogram",
    "g": "gram",
    "mg": "milligram",
    "ug": "microgram",
    "µg": "microgram",
    "μg": "microgram",
    "mcg": "microgram",
    "microgram": "microgram",
    "micrograms": "microgram",
    "milligram": "milligram",
    "milligrams": "milligram",
    "lb": "pound",
    "lbs": "pound",
    # drug activity (heparin): clinicians write U or units; here they are USP units, never enzyme units
    "USP_U": "USP_unit",
    "USP": "USP_unit",
    "U": "USP_unit",
    "units": "USP_unit",
    "unit": "USP_unit",
    "IU": "USP_unit",
    # temperature
    "degC": "degree_Celsius",
    "°C": "degree_Celsius",
    "celsius": "degree_Celsius",
    "degF": "degree_Fahrenheit",
    "°F": "degree_Fahrenheit",
    "fahrenheit": "degree_Fahrenheit",
    "K": "kelvin",
    # pressure
    "mmHg": "millimeter_Hg",
    "kPa": "kilopascal",
    "hPa": "hectopascal",
    "Pa": "pascal",
    "psi": "psi",
    "atm": "atmosphere",
    "mbar": "millibar",
    "bar": "bar",
    # length / altitude
    "m": "meter",
    "km": "kilometer",
    "ft": "foot",
    "feet": "foot",
    "foot": "foot",
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY_RE: Final = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>.*?)\s*$")
# A unit expression is unit words joined by "/" (or "*", "·" for products).
_UNIT_TOKEN_RE: Final = re.compile(r"\s*([/*·])\s*|\s+")


@dataclass(frozen=True, slots=True)
class QuantityKind:
    """A kind of quantity a field may hold.

    ``label`` names the dimension in error messages, ``canonical`` is the unit its floats are
    stored in, ``example`` is shown to whoever typed a wrong value.
    """

    name: str
    label: str
    canonical: str
    example: str

    @property
    def unit(self) -> pint.Unit:
        return ureg.Unit(_translate_unit(self.canonical))


KINDS: Final[dict[str, QuantityKind]] = {
    kind.name: kind
    for kind in (
        QuantityKind("volume", "[volume]", "mL", "2.5 mL"),
        QuantityKind("rate", "[volume]/[time]", "mL/d", "0.5 mL/d"),
        QuantityKind("mass_concentration", "[mass]/[volume]", "mg/mL", "8.4 mg/mL"),
        QuantityKind("activity_concentration", "[drug_activity]/[volume]", "USP_U/mL", "1000 USP_U/mL"),
        QuantityKind("mass", "[mass]", "mg", "252 mg"),
        QuantityKind("body_mass", "[mass]", "kg", "70 kg"),
        QuantityKind("activity", "[drug_activity]", "USP_U", "30000 USP_U"),
        QuantityKind("mass_rate", "[mass]/[time]", "mg/d", "150 ug/d"),
        QuantityKind("activity_rate", "[drug_activity]/[time]", "USP_U/d", "2000 USP_U/d"),
        QuantityKind("weight_based_dose", "[mass]/[mass]/[time]", "mg/kg/d", "0.12 mg/kg/d"),
        QuantityKind("temperature", "[temperature]", "degC", "37.2 degC"),
        QuantityKind("pressure", "[pressure]", "mmHg", "760 mmHg"),
        QuantityKind("altitude", "[length]", "m", "2438 m"),
        QuantityKind("duration", "[time]", "d", "14 d"),
    )
}


def _translate_unit(text: str) -> str:
    """Rewrite a unit expression word by word through the allow-list; raise on any other word."""
    parts = [p for p in _UNIT_TOKEN_RE.split(text) if p]
    if not parts:
        raise UnitError("a unit is required")
    out: list[str] = []
    expect_word = True
    for part in parts:
        if part in {"/", "*", "·"}:
            if expect_word:
                raise UnitError(f"malformed unit expression {text!r}")
            out.append("/" if part == "/" else "*")
            expect_word = True
            continue
        if not expect_word:  # two words in a row ("mg kg") are ambiguous: refuse
            raise UnitError(f"malformed unit expression {text!r}: join units with '/' or '*'")
        name = UNIT_ALIASES.get(part)
        if name is None:
            raise UnitError(f"unknown unit {part!r} in {text!r}")
        out.append(f"({name})")
        expect_word = False
    if expect_word:
        raise UnitError(f"malformed unit expression {text!r}")
    return " ".join(out)


def parse_quantity(text: str) -> Quantity:
    """Parse ``"<number> <unit>"`` through the allow-list into a pint Quantity.

    Raises:
        UnitError: no number, a non-finite number, or a unit word outside the allow-list.
    """
    match = _QUANTITY_RE.match(text)
    if match is None:
        raise UnitError(f"not a quantity: {text!r} (write a number and a unit, e.g. '2.5 mL')")
    magnitude = float(match["number"])
    if not math.isfinite(magnitude):
        raise UnitError(f"not a finite number: {text!r}")
    unit = _translate_unit(match["unit"])
    try:
        return Q_(magnitude, ureg.Unit(unit))
    except pint.PintError as exc:  # pragma: no cover - the allow-list only holds valid names
        raise UnitError(f"cannot read unit of {text!r}: {exc}") from exc


def _kind_label(quantity: Quantity) -> str:
    for kind in KINDS.values():
        if quantity.dimensionality == kind.unit.dimensionality:
            return kind.label
    return str(quantity.dimensionality)


def to_canonical(value: "str | Quantity", kind: str) -> float:
    """Convert a quantity string (or Quantity) of ``kind`` (a key of :data:`KINDS`) to its canonical float.

    Raises:
        UnitError: unreadable text, or a dimension other than ``kind`` (the message names both).
    """
    expected = KINDS[kind]
    if isinstance(value, str):
        try:
            quantity = parse_quantity(value)
        except UnitError as exc:
            raise UnitError(f"{exc}; expected a {expected.label} quantity such as {expected.example!r}") from exc
    else:
        quantity = value
    if quantity.dimensionality != expected.unit.dimensionality:
        shown = value if isinstance(value, str) else format(quantity, "~P")
        raise UnitError(
            f"expected a {expected.label} quantity such as {expected.example!r}, "
            f"got {shown!r} which is {_kind_label(quantity)}"
        )
    try:
        result = float(quantity.m_as(expected.unit))
    except pint.PintError as exc:  # offset units in a compound, e.g. degC/h
        raise UnitError(f"cannot convert {value!r} to {expected.canonical}: {exc}") from exc
    if not math.isfinite(result):
        raise UnitError(f"{value!r} is out of range")
    return result


def format_quantity(value: float, kind: str, unit: str | None = None, digits: int = 6) -> str:
    """Format a canonical float as the protocol's quantity string, e.g. ``"11.84 mL"``.

    ``unit`` picks a display unit of the same kind (``"ug/d"`` for a ziconotide dose); it
    defaults to the canonical unit. Trailing zeros are dropped (``"20 mL"``).
    """
    expected = KINDS[kind]
    shown = unit or expected.canonical
    magnitude = Q_(value, expected.unit).m_as(ureg.Unit(_translate_unit(shown)))
    text = f"{magnitude:.{digits}f}".rstrip("0").rstrip(".")
    return f"{'0' if text in {'', '-0'} else text} {shown}"


def _canonical_validator(kind: str, minimum: float | None) -> Callable[[Any], float]:
    def validate(raw: Any) -> float:
        if isinstance(raw, bool):
            raise UnitError(f"expected a {KINDS[kind].label} quantity, got a boolean")
        if isinstance(raw, int | float):
            try:
                value = float(raw)  # a bare number is already in the canonical unit
            except OverflowError:  # an integer beyond float range (JSON allows any number of digits)
                raise UnitError("out of range") from None
            if not math.isfinite(value):
                raise UnitError("not a finite number")
        elif isinstance(raw, str):
            value = to_canonical(raw, kind)
        else:
            raise UnitError(
                f"expected a {KINDS[kind].label} quantity: a number in {KINDS[kind].canonical} "
                f"or a string such as {KINDS[kind].example!r}"
            )
        if minimum is not None and value < minimum:
            raise UnitError(f"must not be negative (got {raw!r})")
        return value

    return validate


def canonical(kind: str, *, minimum: float | None = 0.0) -> Any:
    """An ``Annotated[float, ...]`` type that accepts ``"2.5 mL/h"`` or a canonical number.

    The JSON schema documents both forms; values serialise as plain canonical floats.
    """
    unit = KINDS[kind].canonical
    return Annotated[
        float,
        BeforeValidator(_canonical_validator(kind, minimum)),
        PlainSerializer(float, return_type=float),
        WithJsonSchema(
            {
                "anyOf": [{"type": "number"}, {"type": "string"}],
                "description": f"{KINDS[kind].label} quantity: a number in {unit}, or a string with a unit "
                f"such as {KINDS[kind].example!r}",
            },
            mode="validation",
        ),
    ]


# mypy sees the plain float the validators produce; pydantic sees the annotated type.
if TYPE_CHECKING:
    VolumeMl: TypeAlias = float
    RateMlPerDay: TypeAlias = float
    ConcMgPerMl: TypeAlias = float
    ConcUspUPerMl: TypeAlias = float
    MassMg: TypeAlias = float
    BodyMassKg: TypeAlias = float
    ActivityUspU: TypeAlias = float
    DoseMgPerDay: TypeAlias = float
    DoseUspUPerDay: TypeAlias = float
    DoseMgPerKgPerDay: TypeAlias = float
    TemperatureDegC: TypeAlias = float
    PressureMmHg: TypeAlias = float
    AltitudeM: TypeAlias = float
    DurationDays: TypeAlias = float
else:
    VolumeMl = canonical("volume")
    RateMlPerDay = canonical("rate")
    ConcMgPerMl = canonical("mass_concentration")
    ConcUspUPerMl = canonical("activity_concentration")
    MassMg = canonical("mass")
    BodyMassKg = canonical("body_mass")
    ActivityUspU = canonical("activity")
    DoseMgPerDay = canonical("mass_rate")
    DoseUspUPerDay = canonical("activity_rate")
    DoseMgPerKgPerDay = canonical("weight_based_dose")
    TemperatureDegC = canonical("temperature", minimum=None)
    PressureMmHg = canonical("pressure")
    AltitudeM = canonical("altitude", minimum=None)
    DurationDays = canonical("duration")
