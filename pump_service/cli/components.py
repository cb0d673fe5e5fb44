"""Parse ``--component`` options: ``DRUG[:key=value,...]``, e.g. ``floxuridine:dose=0.12 mg/kg/d,lot=A1``.

Keys: ``amount``, ``conc``, ``dose``, ``stock`` (the vial strength): quantities whose unit decides
the field; ``ndc``, ``lot``, ``expires`` (YYYY-MM-DD).
"""

from typing import Any

from schemas.units import KINDS, UnitError, parse_quantity, to_canonical

__all__ = ["parse_component"]

# kind of the quantity -> (request field, dose sub-field)
_QUANTITY_FIELDS: dict[str, dict[str, tuple[str, str | None]]] = {
    "amount": {"mass": ("amount_mg", None), "activity": ("amount_usp_u", None)},
    "conc": {"mass_concentration": ("conc_mg_per_ml", None), "activity_concentration": ("conc_usp_u_per_ml", None)},
    "dose": {
        "weight_based_dose": ("dose", "mg_per_kg_per_day"),
        "mass_rate": ("dose", "mg_per_day"),
        "activity_rate": ("dose", "usp_u_per_day"),
    },
    "stock": {
        "mass_concentration": ("stock_concentration", None),
        "activity_concentration": ("stock_concentration", None),
    },
}
_PLAIN = {"ndc": "ndc", "lot": "lot", "expires": "expires_on"}


def _quantity_field(key: str, text: str) -> tuple[str, Any]:
    quantity = parse_quantity(text)
    for kind, (field, sub) in _QUANTITY_FIELDS[key].items():
        if quantity.dimensionality == KINDS[kind].unit.dimensionality:
            value = to_canonical(quantity, kind)
            return field, ({sub: value} if sub else value)
    expected = " or ".join(KINDS[k].label for k in _QUANTITY_FIELDS[key])
    raise UnitError(f"{key}={text!r}: expected {expected}")


def parse_component(spec: str) -> dict[str, Any]:
    """One ``--component`` value as a request dict (validated later by the request model).

    Raises:
        ValueError: a malformed spec or an unknown key (UnitError for a wrong unit).
    """
    drug_id, _, rest = spec.partition(":")
    component: dict[str, Any] = {"drug_id": drug_id.strip()}
    if not rest.strip():
        return component
    for item in rest.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise ValueError(f"component {spec!r}: expected key=value, got {item!r}")
        if key in _QUANTITY_FIELDS:
            field, parsed = _quantity_field(key, value)
            component[field] = parsed
        elif key in _PLAIN:
            component[_PLAIN[key]] = value
        else:
            raise ValueError(f"component {spec!r}: unknown key {key!r} (amount, conc, dose, stock, ndc, lot, expires)")
    return component
