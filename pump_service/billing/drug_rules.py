"""Drug and supply lines (R9-R13), with HCPCS billing units computed by pint.

* R9 a drug the pharmacy supplies (and bills) gives no line;
* R10 an off-the-shelf drug from a single-dose container: ``ceil(administered / unit)`` units,
  JZ when nothing billable was discarded, otherwise a second JW line of
  ``ceil(opened / unit) - admin units`` (so the rounded-up dose never bills the same vial twice);
* R11 a multi-dose container: no JW/JZ; a patency or diluent use (heparin lock, saline, glycerin)
  is pump maintenance and not billable unless the payer profile says so;
* R12 every compounded ingredient together: ONE line of the profile's compounded-drug code,
  quantity 1, with a narrative listing the ingredients and invoice references;
* R13 supplies; the A4220 refill kit is bundled (patient liability 0) unless the profile pays it.

KD is appended to practice drug lines when the profile says so. In a facility place of service the
facility bills drugs and supplies, unless the profile allows them.
"""

import math
from typing import Any

from pump_service.billing.draft import Draft
from pump_service.billing.facts import ContainerKind, DrugGiven, DrugPurpose, SuppliedBy, VisitFacts
from pump_service.billing.reference import CodeCategory, PayerProfile, Quantity, ReferenceData
from pump_service.errors import RuleViolationError
from schemas.units import Q_, format_quantity, ureg

__all__ = ["billing_units", "drug_lines", "supply_lines"]

_PINT_UNIT = {"mg": "milligram", "USP_U": "USP_unit", "mL": "milliliter"}
_KIND = {"mg": "mass", "USP_U": "activity", "mL": "volume"}
# Float noise (252.00000000000003 mg) must not add a billing unit.
_REL_TOLERANCE = 1e-9


def billing_units(amount: float, unit: str, billing_unit: Quantity) -> int:
    """Whole HCPCS units covering ``amount`` (in canonical ``unit``: mg, USP_U or mL), rounded up.

    Raises:
        ValueError: ``amount`` is negative or not finite, or ``unit`` is not a canonical drug unit.
        pint.DimensionalityError: ``billing_unit`` is of another dimension (the loader prevents it).
    """
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"amount must be a finite non-negative number, got {amount!r}")
    if unit not in _PINT_UNIT:
        raise ValueError(f"unit must be one of {', '.join(_PINT_UNIT)}, got {unit!r}")
    ratio: Any = (Q_(amount, ureg.Unit(_PINT_UNIT[unit])) / billing_unit).m_as("dimensionless")
    value = float(ratio)
    return max(0, math.ceil(value - _REL_TOLERANCE * max(1.0, value)))


def _amount_text(amount: float, unit: str) -> str:
    return format_quantity(amount, _KIND[unit], digits=4)


def drug_lines(
    facts: VisitFacts, reference: ReferenceData, profile: PayerProfile, primary_code: str | None
) -> list[Draft]:
    """Drug lines for the practice-supplied drugs of the visit, in the order given."""
    facility = profile.is_facility(facts.place_of_service)
    lines: list[Draft] = []
    compounded: list[DrugGiven] = []
    shelf: list[DrugGiven] = []
    for given in facts.drugs:
        if given.supplied_by is SuppliedBy.PHARMACY:
            continue  # R9: the pharmacy bills the drug; the visit bills only the service
        if given.compounded and given.purpose is DrugPurpose.THERAPEUTIC:
            compounded.append(given)
        else:
            shelf.append(given)  # a compounded lock or diluent is pump maintenance (R11), not a compound
    for given in _merged(shelf):
        lines.extend(_off_the_shelf(given, reference, profile, primary_code, facility))
    if compounded:
        lines.append(_compound(compounded, reference, profile, facility))
    return lines


_AMOUNT_FIELDS = ("administered_mg", "administered_usp_u", "administered_ml", "opened_mg", "opened_usp_u", "opened_ml")


def _merged(drugs: list[DrugGiven]) -> list[DrugGiven]:
    """One entry per drug, container, use and NDC: units are rounded up once for the whole amount.

    Two lots of one drug in one fill are one dose: rounding each up would bill a unit twice.
    """
    groups: dict[tuple[object, ...], list[DrugGiven]] = {}
    for given in drugs:
        groups.setdefault((given.drug_id, given.container, given.purpose, given.ndc, given.compounded), []).append(
            given
        )
    merged = []
    for group in groups.values():
        first = group[0]
        if len(group) > 1:
            totals: dict[str, float | None] = {}
            for name in _AMOUNT_FIELDS:
                values = [getattr(g, name) for g in group if getattr(g, name) is not None]
                totals[name] = sum(values) if values else None
            lots = sorted({g.lot for g in group if g.lot})
            first = first.model_copy(update={**totals, "lot": ", ".join(lots)[:40] if lots else None})
        merged.append(first)
    return merged


def _off_the_shelf(
    given: DrugGiven, reference: ReferenceData, profile: PayerProfile, primary_code: str | None, facility: bool
) -> list[Draft]:
    billing = reference.drug(given.drug_id)
    code = billing.code
    administered = given.administered_amount or 0.0
    maintenance = given.purpose is not DrugPurpose.THERAPEUTIC
    single = given.container is ContainerKind.SINGLE
    rule = "R11" if maintenance or not single else "R10"
    narrative = None
    if code.billing_unit is None:  # not otherwise classified: one unit, the drug named in the narrative
        admin_units, waste_units = 1, 0
        narrative = f"{billing.name} {_amount_text(administered, billing.amount_unit)}"
    else:
        admin_units = billing_units(administered, billing.amount_unit, code.billing_unit)
        opened = given.opened_amount
        waste_units = 0
        if single and opened is not None:
            waste_units = max(0, billing_units(opened, billing.amount_unit, code.billing_unit) - admin_units)

    def draft(units: int) -> Draft:
        return Draft(
            code,
            rule,
            units=units,
            narrative=narrative,
            ndc=given.ndc,
            ndc_qty=given.ndc_qty,
            ndc_unit=given.ndc_unit,
            lot=given.lot,
        )

    main = draft(admin_units)
    if maintenance and not profile.patency_drugs_billable:
        main.refuse(
            f"R11: {given.purpose.value} use of {billing.name} is pump maintenance, included in the refill service",
            bundled_into=primary_code,
        )
    elif facility and not profile.drugs_billable_in_facility:
        main.refuse(f"{rule}: in a facility place of service the facility bills the drug")
    if not main.billable:
        return [main] if admin_units else []

    lines = [main] if admin_units else []
    if single and profile.jw_jz_modifiers and code.billing_unit is not None:
        if waste_units == 0:
            main.add_modifier("JZ")
        else:
            waste = draft(waste_units)
            waste.ndc_qty = waste.ndc_unit = None
            waste.add_modifier("JW")
            discarded = (given.opened_amount or administered) - administered
            waste.narrative = f"discarded {_amount_text(discarded, billing.amount_unit)} from single-dose container"
            lines.append(waste)
    if profile.kd_modifier_on_pump_drugs:
        for line in lines:
            line.add_modifier("KD")
    return lines


def _compound(compounded: list[DrugGiven], reference: ReferenceData, profile: PayerProfile, facility: bool) -> Draft:
    antineoplastic = any(reference.drug(g.drug_id).code.antineoplastic for g in compounded)
    code = profile.compounded_antineoplastic_code if antineoplastic else profile.compounded_drug_code
    parts = []
    for given in compounded:
        billing = reference.drug(given.drug_id)
        parts.append(f"{billing.name} {_amount_text(given.administered_amount or 0.0, billing.amount_unit)}")
    invoices = sorted({g.invoice_ref for g in compounded if g.invoice_ref})
    narrative = "Compounded pump fill: " + "; ".join(parts)
    if invoices:
        narrative += f"; invoice {', '.join(invoices)}"
    line = Draft(reference.code(code), "R12", units=1, narrative=narrative)
    if facility and not profile.drugs_billable_in_facility:
        line.refuse("R12: in a facility place of service the facility bills the drug")
    elif profile.kd_modifier_on_pump_drugs:
        line.add_modifier("KD")
    return line


def supply_lines(
    facts: VisitFacts, reference: ReferenceData, profile: PayerProfile, primary_code: str | None
) -> list[Draft]:
    """Supply lines (R13).

    Raises:
        RuleViolationError: a supply code that codes.toml does not list as a supply.
    """
    facility = profile.is_facility(facts.place_of_service)
    lines = []
    for supply in facts.supplies:
        info = reference.codes.get(supply.code)
        if info is None or info.category is not CodeCategory.SUPPLY:
            raise RuleViolationError(f"{supply.code} is not a known supply code", field="supplies")
        line = Draft(info, "R13", units=supply.quantity, lot=supply.lot)
        if supply.code == "A4220" and not profile.a4220_billable:
            line.refuse(
                "R13: the refill kit is bundled into the refill service and not separately payable",
                bundled_into=primary_code,
                patient_liability_usd=0.0 if profile.a4220_patient_liability_zero else None,
            )
        elif facility and not profile.drugs_billable_in_facility:
            line.refuse("R13: in a facility place of service the facility bills the supply")
        lines.append(line)
    return lines
