"""The charge engine: :class:`VisitFacts` + :class:`ReferenceData` -> :class:`ChargeSet`.

Pure and deterministic: no database, no clock, no I/O. The rules run in a fixed order (service
codes, imaging add-on, E/M, drugs, supplies, then the same-day edits R3 -> R16 -> R15), lines are
numbered, priced from the fee schedule and given their deterministic ids, and the R17 coverage
pre-check adds warnings. Either the whole set is returned or an exception is raised; there is no
partial result.
"""

from decimal import ROUND_HALF_UP, Decimal

from pump_service.billing.charges import ChargeEvent, ChargeSet
from pump_service.billing.corrections import line_event_id
from pump_service.billing.coverage import coverage_warnings
from pump_service.billing.draft import Draft
from pump_service.billing.drug_rules import drug_lines, supply_lines
from pump_service.billing.edits import apply_mue, apply_ncci, apply_sole_service
from pump_service.billing.facts import VisitFacts
from pump_service.billing.reference import PayerProfile, ReferenceData
from pump_service.billing.service_rules import PRIMARY_CATEGORIES, em_line, imaging_lines, service_lines

__all__ = ["compute_charges", "expected_allowable"]

_CENT = Decimal("0.01")
_MAX_DX_POINTERS = 4  # an 837P service line points at no more than four diagnoses


def compute_charges(facts: VisitFacts, reference: ReferenceData) -> ChargeSet:
    """Charge lines for one visit, per the rule table R1-R17.

    Raises:
        ValueError: ``reference`` was loaded for a date whose tables differ from the service date's.
        BillingDataError: the visit's payer profile (or a drug's billing entry) is not in the reference.
        RuleViolationError: a supply code that is not a known supply.
    """
    if not reference.covers(facts.service_date):
        raise ValueError(
            f"reference data loaded for {reference.on} does not apply to service date {facts.service_date}: "
            "load it for that date"
        )
    profile = reference.profile(facts.payer_profile)
    services, warnings = service_lines(facts, reference, profile)
    primary = next((line for line in services if line.code.category in PRIMARY_CATEGORIES), None)
    primary_code = primary.code.code if primary is not None else None
    lines = [*services, *imaging_lines(facts, reference, profile, primary)]
    em = em_line(facts, reference, profile, services)
    if em is not None:
        lines.append(em)
    lines += drug_lines(facts, reference, profile, primary_code)
    lines += supply_lines(facts, reference, profile, primary_code)

    apply_sole_service(lines, facts)
    apply_ncci(lines, facts, reference, profile)
    lines, mue_warnings = apply_mue(lines, facts, reference)
    warnings += mue_warnings
    warnings += coverage_warnings(facts, reference, profile)

    events = tuple(_event(facts, reference, profile, line, number) for number, line in enumerate(lines, 1))
    return ChargeSet(
        visit_key=facts.visit_key,
        revision=facts.revision,
        payer_profile=profile.profile_id,
        reference_version=reference.version,
        lines=events,
        warnings=tuple(warnings),
    )


def expected_allowable(
    code: str, units: int, *, reference: ReferenceData, profile: PayerProfile, place_of_service: str
) -> tuple[float | None, str | None]:
    """Fee-schedule amount for ``units`` of ``code`` and how it was computed.

    Returns ``(None, reason)`` when the payer is not priced from the fee schedule, the schedule has
    no figure for the code, or the code is not payable in the setting ("NA").
    """
    if profile.fee_schedule is None:
        return None, None
    fee = reference.fees.get(code)
    if fee is None:
        return None, f"no {reference.version} fee schedule figure for {code}"
    facility = profile.is_facility(place_of_service)
    setting = "facility" if facility else "non-facility"
    rate = fee.facility if facility else fee.nonfacility
    if rate.not_payable:
        return None, f"{code} is not payable in a {setting} setting (NA)"
    if rate.rvu is not None:
        factor = Decimal(str(reference.conversion_factor_usd_per_rvu))
        amount = (Decimal(str(rate.rvu)) * factor * units).quantize(_CENT, rounding=ROUND_HALF_UP)
        return float(amount), f"{setting} total RVU {rate.rvu:g} x ${factor} x {units}"
    if rate.usd is not None:
        amount = (Decimal(str(rate.usd)) * units).quantize(_CENT, rounding=ROUND_HALF_UP)
        return float(amount), f"{setting} ${rate.usd:,.2f} per unit x {units}"
    return None, f"{setting} figure for {code} unknown"


def _event(facts: VisitFacts, reference: ReferenceData, profile: PayerProfile, line: Draft, number: int) -> ChargeEvent:
    modifiers = tuple(line.modifiers)
    if line.billable:
        allowable, basis = expected_allowable(
            line.code.code, line.units, reference=reference, profile=profile, place_of_service=facts.place_of_service
        )
    else:
        allowable, basis = 0.0, "not billable"
    return ChargeEvent(
        event_id=line_event_id(facts.visit_key, facts.revision, line.code.code, modifiers, number),
        visit_key=facts.visit_key,
        revision=facts.revision,
        line_number=number,
        patient_ref=facts.patient_ref,
        service_at=facts.service_at,
        service_date=facts.service_date,
        recorded_at=facts.service_at,
        code_system=line.code.system,
        code=line.code.code,
        descriptor=line.code.descriptor,
        modifiers=modifiers,
        units=line.units,
        ndc=line.ndc,
        ndc_qty=line.ndc_qty,
        ndc_unit=line.ndc_unit,
        diagnoses=facts.diagnoses,
        dx_pointers=tuple(range(1, min(len(facts.diagnoses), _MAX_DX_POINTERS) + 1)),
        performer_id=line.performer_id or facts.performer_id,
        performer_role=line.performer_role or facts.performer_role,
        supervising_id=facts.supervising_id,
        place_of_service=facts.place_of_service,
        payer_profile=profile.profile_id,
        rule=line.rule,
        status=line.status,
        status_reason=line.reason,
        bundled_into=line.bundled_into,
        narrative=line.narrative,
        lot=line.lot,
        expected_allowable_usd=allowable,
        allowable_basis=basis,
        patient_liability_usd=line.patient_liability_usd,
        review_required=line.review_required,
    )
