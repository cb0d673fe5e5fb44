"""Same-day edits over the whole visit: sole-service flush (R3), NCCI (R16) and MUE caps (R15).

They run after every line exists, in this order, because each looks only at lines still billable:
a line bundled by an NCCI pair does not use up an MUE allowance. ``same_day_codes`` (codes other
visits already charged that date) take part as column-1 codes, as sole-service breakers and as
units already used against a date-of-service MUE.
"""

from collections import Counter

from pump_service.billing.charges import BillingWarning
from pump_service.billing.draft import Draft
from pump_service.billing.facts import VisitFacts
from pump_service.billing.reference import CodeCategory, PayerProfile, ReferenceData

__all__ = ["apply_mue", "apply_ncci", "apply_sole_service"]

_MAI_TEXT = {
    1: "MAI 1, per claim line; medically necessary extra units may go on another line with a modifier",
    2: "MAI 2, absolute date-of-service limit",
    3: "MAI 3, date-of-service limit, appealable with documentation",
}


def apply_sole_service(lines: list[Draft], facts: VisitFacts) -> None:
    """R3: 96523 stays billable only when nothing else is billed that day."""
    others = [line.code.code for line in lines if line.billable and line.code.category is not CodeCategory.PORT_FLUSH]
    others += list(facts.same_day_codes)
    if not others:
        return
    for line in lines:
        if line.code.category is CodeCategory.PORT_FLUSH:
            line.refuse(
                f"R3: {line.code.code} is reportable only as the day's sole service ({others[0]} is billed too)",
                bundled_into=others[0],
            )


def apply_ncci(lines: list[Draft], facts: VisitFacts, reference: ReferenceData, profile: PayerProfile) -> None:
    """R16: procedure-to-procedure pairs from ptp.csv, then codes needing an NCCI modifier.

    A column-2 code is bundled into a column-1 code billed the same day, unless the pair's modifier
    indicator is 1 and the visit documents a distinct service; then it keeps the profile's
    distinct-service modifier (59 or XU).
    """
    distinct = facts.distinct_service_documented
    for edit in reference.ptp:
        present = {line.code.code for line in lines if line.billable} | set(facts.same_day_codes)
        if edit.modifier_indicator == 9 or edit.column_1 not in present:
            continue
        for line in lines:
            if line.code.code != edit.column_2 or not line.billable:
                continue
            if edit.modifier_indicator == 1 and distinct:
                line.add_modifier(profile.distinct_modifier)
                continue
            why = "no modifier allowed" if edit.modifier_indicator == 0 else "not documented as a distinct service"
            line.refuse(
                f"R16: NCCI pair {edit.column_1}/{edit.column_2}: {edit.column_2} is not paid beside "
                f"{edit.column_1} on the same date ({why})",
                bundled_into=edit.column_1,
            )

    same_day = [reference.codes[c].category for c in facts.same_day_codes if c in reference.codes]
    for line in lines:
        if not line.code.ncci_modifier_with or not line.billable:
            continue
        around = same_day + [o.code.category for o in lines if o is not line and o.billable]
        hit = next((c for c in around if c in line.code.ncci_modifier_with), None)
        if hit is None:
            continue
        if distinct:
            line.add_modifier(profile.distinct_modifier)
        else:
            line.refuse(
                f"R16: {line.code.code} needs an NCCI modifier beside a same-day {hit.value} procedure, "
                "and the visit does not document a distinct service"
            )


def apply_mue(
    lines: list[Draft], facts: VisitFacts, reference: ReferenceData
) -> tuple[list[Draft], list[BillingWarning]]:
    """R15: cap each code's billable units at its MUE; excess units move to a not-billable line.

    MAI 1 limits each line; MAI 2 and 3 limit the date of service, counting units already charged
    by other visits (one per ``same_day_codes`` entry). Excess under MAI 1 or 3 is held for review;
    under MAI 2 it is final.
    """
    used: Counter[str] = Counter(facts.same_day_codes)
    out: list[Draft] = []
    warnings: list[BillingWarning] = []
    for line in lines:
        out.append(line)
        limit = reference.mue.get(line.code.code)
        if limit is None or not line.billable:
            continue
        allowed = limit.units if limit.mai == 1 else max(0, limit.units - used[line.code.code])
        if line.units > allowed:
            excess = line.units - allowed
            reason = f"R15: units above the MUE of {limit.units} ({_MAI_TEXT[limit.mai]})"
            if allowed == 0:
                line.refuse(reason)
                line.review_required = limit.mai != 2
            else:
                line.units = allowed
                extra = Draft(
                    line.code,
                    line.rule,
                    units=excess,
                    modifiers=list(line.modifiers),
                    narrative=line.narrative,
                    ndc=line.ndc,
                    lot=line.lot,
                    performer_id=line.performer_id,
                    performer_role=line.performer_role,
                )
                extra.refuse(reason)
                extra.review_required = limit.mai != 2
                out.append(extra)
            warnings.append(
                BillingWarning(
                    rule="R15",
                    code="mue_exceeded",
                    message=f"{line.code.code}: {excess} unit(s) over the MUE of {limit.units}"
                    + (" held for review" if limit.mai != 2 else " not billable"),
                )
            )
        if line.billable:
            used[line.code.code] += line.units
    return out, warnings
