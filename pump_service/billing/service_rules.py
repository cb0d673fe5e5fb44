"""Service-code rules: which refill, analysis, flush, imaging and E/M codes a visit earns.

Rule rows (docs/billing.md, "The rule table"):

* R1 systemic (IA, IV) refill -> 96522; R2 on a chemotherapy initiation day -> 96425 instead;
* R3 port flush -> 96523 (kept billable only as the day's sole service, see :mod:`.edits`);
* R4/R5 spinal or intraventricular refill without reprogramming -> 95990 (staff) / 95991 (physician);
* R6/R7 programmable IT/epidural analysis without refill -> 62367 / 62368 (with reprogramming);
* R8 programmable IT/epidural refill with reprogramming -> 62369 (staff) / 62370 (physician);
* R14 a separate E/M, with modifier 25 beside a billable service; never 99211 beside drug
  administration; not at all on a refill visit where the payer pays only the refill;
* imaging guidance add-ons (77002, 76937) at a refill, governed by the NCCI rules of R16.

Codes marked ``facility_billable = false`` in codes.toml are not billable in the payer profile's
facility places of service: the facility reports them on its own claim.
"""

from pump_service.billing.charges import BillingWarning
from pump_service.billing.draft import Draft
from pump_service.billing.facts import ImagingGuidance, PerformerRole, VisitFacts
from pump_service.billing.reference import CodeCategory, PayerProfile, ReferenceData
from schemas.pump import DeliveryRoute, PumpFamily

__all__ = ["PRIMARY_CATEGORIES", "em_line", "imaging_lines", "service_lines"]

_SYSTEMIC = frozenset({DeliveryRoute.INTRA_ARTERIAL, DeliveryRoute.INTRAVENOUS})
_SPINAL = frozenset({DeliveryRoute.INTRATHECAL, DeliveryRoute.EPIDURAL})
_BRAIN = frozenset({DeliveryRoute.INTRAVENTRICULAR})
# Services an imaging add-on or a bundled supply can hang on.
PRIMARY_CATEGORIES = frozenset({CodeCategory.PUMP_REFILL, CodeCategory.CHEMO_INITIATION})


def service_lines(
    facts: VisitFacts, reference: ReferenceData, profile: PayerProfile
) -> tuple[list[Draft], list[BillingWarning]]:
    """The visit's procedure lines (R1-R8), each refused if its POS does not allow it."""
    lines: list[Draft] = []
    warnings: list[BillingWarning] = []
    physician = facts.performer_role is PerformerRole.PHYSICIAN_QHP
    programmable = facts.pump_family is PumpFamily.PROGRAMMABLE

    def add(code: str, rule: str) -> None:
        lines.append(Draft(reference.code(code), rule))

    if facts.route in _SYSTEMIC:
        if facts.chemo_cycle_initiated_today:
            add("96425", "R2")
        elif facts.refilled:
            add("96522", "R1")
    elif facts.refilled:
        if facts.prescription_changed and programmable and facts.route in _SPINAL:
            add("62370" if physician else "62369", "R8")
        else:
            add("95991" if physician else "95990", "R5" if physician else "R4")
            if facts.prescription_changed and facts.route in _BRAIN:
                warnings.append(
                    BillingWarning(
                        rule="R4",
                        code="intraventricular_reprogramming",
                        message="62367-62370 describe intrathecal/epidural pumps only: the intraventricular "
                        "refill is billed as 95990/95991 and the reprogramming is not separately coded",
                    )
                )
    elif programmable and facts.route in _SPINAL and (facts.analysis_done or facts.prescription_changed):
        add("62368" if facts.prescription_changed else "62367", "R7" if facts.prescription_changed else "R6")
    if facts.port_flush_only:
        add("96523", "R3")

    facility = profile.is_facility(facts.place_of_service)
    for line in lines:
        if facility and not line.code.facility_billable:
            line.refuse(
                f"{line.rule}: place of service {facts.place_of_service} is a facility setting; "
                f"{line.code.code} is reported by the facility on its own claim, not by the practitioner"
            )
    if not lines:
        warnings.append(
            BillingWarning(
                rule=None, code="no_service", message="no refill, analysis or flush code applies to this visit"
            )
        )
    return lines, warnings


def imaging_lines(
    facts: VisitFacts, reference: ReferenceData, profile: PayerProfile, primary: Draft | None
) -> list[Draft]:
    """The imaging guidance add-on of a refill, if any (its NCCI modifier rule runs in :mod:`.edits`)."""
    if facts.imaging_guidance is ImagingGuidance.NONE:
        return []
    code = "77002" if facts.imaging_guidance is ImagingGuidance.FLUOROSCOPY else "76937"
    line = Draft(reference.code(code), "R16")
    if primary is None or not facts.refilled:
        line.refuse(f"R16: {code} is an add-on code and needs a refill procedure at the same visit")
    elif not primary.billable:
        line.refuse(f"R16: its primary procedure {primary.code.code} is not billable", bundled_into=primary.code.code)
    elif not profile.imaging_guidance_billable:
        line.refuse(f"R16: {profile.name} includes imaging guidance in the refill", bundled_into=primary.code.code)
    return [line]


def em_line(facts: VisitFacts, reference: ReferenceData, profile: PayerProfile, services: list[Draft]) -> Draft | None:
    """The separate E/M line (R14), or None when the visit has none."""
    em = facts.separate_em
    if em is None:
        return None
    line = Draft(reference.code(em.code), "R14", performer_id=em.performer_id, performer_role=em.performer_role)
    same_day = [reference.codes[c] for c in facts.same_day_codes if c in reference.codes]
    administration = [s.code.code for s in services if s.code.drug_administration] + [
        c.code for c in same_day if c.drug_administration
    ]
    refill = next((s.code.code for s in services if s.code.category in PRIMARY_CATEGORIES), None)
    if em.code == "99211" and administration:
        line.refuse(
            f"R14: 99211 is not payable with a drug administration service ({administration[0]}) the same day",
            bundled_into=administration[0],
        )
    elif em.code == "99211" and refill is not None:
        # A nurse's minimal visit is what the refill or analysis already pays for (R14: above 99211 only).
        line.refuse(
            f"R14: 99211 is included in {refill}; only a separately identifiable visit above it", bundled_into=refill
        )
    elif refill is not None and not profile.em_on_refill_visit:
        line.refuse(
            f"R14: {profile.name} pays only the maintenance and refill on a refill visit; no office visit",
            bundled_into=refill,
        )
    elif any(s.billable for s in services):
        line.add_modifier("25")
    return line
