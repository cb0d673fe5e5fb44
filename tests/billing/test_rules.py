"""One test per row of the rule table (docs/billing.md): R1 ... R17."""

import pytest

from pump_service.billing import ChargeSet, ChargeStatus, ReferenceData, compute_charges
from tests.billing.builders import (
    BACLOFEN_40,
    FLOXURIDINE_252,
    HEPARIN_LOCK,
    REFILL_KIT,
    SPINAL_DOCUMENTATION,
    hai_visit,
    spinal_visit,
    visit,
)

BILLABLE = ChargeStatus.BILLABLE
NOT_BILLABLE = ChargeStatus.NOT_BILLABLE


def codes(charges: ChargeSet) -> list[str]:
    return [line.code for line in charges.lines]


@pytest.mark.parametrize("route", ["intra_arterial", "intravenous"])
def test_r1_systemic_refill_is_96522(reference: ReferenceData, route: str) -> None:
    charges = compute_charges(visit(route=route), reference)
    line = charges.line("96522")
    assert (line.rule, line.status, line.units, line.modifiers) == ("R1", BILLABLE, 1, ())
    assert codes(charges) == ["96522"]


def test_r2_initiation_day_bills_96425_instead_of_96522(reference: ReferenceData) -> None:
    charges = compute_charges(hai_visit(chemo_cycle_initiated_today=True), reference)
    assert charges.line("96425").rule == "R2"
    assert charges.line("96425").status is BILLABLE
    assert "96522" not in codes(charges)


def test_r3_port_flush_is_billed_only_as_the_sole_service(reference: ReferenceData) -> None:
    alone = compute_charges(visit(route="intravenous", refilled=False, port_flush_only=True), reference)
    assert alone.line("96523").status is BILLABLE
    assert alone.line("96523").rule == "R3"

    with_refill = compute_charges(visit(route="intravenous", port_flush_only=True), reference)
    flush = with_refill.line("96523")
    assert (flush.status, flush.bundled_into) == (NOT_BILLABLE, "96522")
    assert flush.status_reason is not None
    assert "sole service" in flush.status_reason

    other_visit = compute_charges(
        visit(route="intravenous", refilled=False, port_flush_only=True, same_day_codes=("96425",)), reference
    )
    assert other_visit.line("96523").status is NOT_BILLABLE


@pytest.mark.parametrize("route", ["intrathecal", "epidural", "intraventricular"])
def test_r4_spinal_or_brain_refill_by_staff_is_95990(reference: ReferenceData, route: str) -> None:
    charges = compute_charges(spinal_visit(route=route, drugs=()), reference)
    assert codes(charges) == ["95990"]
    assert charges.line("95990").rule == "R4"


def test_r5_physician_refill_is_95991_and_allowed_in_a_facility(reference: ReferenceData) -> None:
    office = compute_charges(spinal_visit(performer_role="physician_qhp", drugs=()), reference)
    assert codes(office) == ["95991"]
    assert office.line("95991").rule == "R5"
    hospital = compute_charges(spinal_visit(performer_role="physician_qhp", drugs=(), place_of_service="22"), reference)
    assert hospital.line("95991").status is BILLABLE
    staff_in_hospital = compute_charges(spinal_visit(drugs=(), place_of_service="22"), reference)
    assert staff_in_hospital.line("95990").status is NOT_BILLABLE


def test_r6_analysis_without_refill_or_change_is_62367(reference: ReferenceData) -> None:
    charges = compute_charges(spinal_visit(refilled=False, analysis_done=True, drugs=()), reference)
    assert codes(charges) == ["62367"]
    assert charges.line("62367").rule == "R6"


def test_r7_analysis_with_reprogramming_without_refill_is_62368(reference: ReferenceData) -> None:
    charges = compute_charges(
        spinal_visit(refilled=False, analysis_done=True, prescription_changed=True, drugs=()), reference
    )
    assert codes(charges) == ["62368"]
    assert charges.line("62368").rule == "R7"


@pytest.mark.parametrize(("role", "code"), [("clinical_staff", "62369"), ("physician_qhp", "62370")])
def test_r8_refill_with_reprogramming_replaces_95990_95991(reference: ReferenceData, role: str, code: str) -> None:
    charges = compute_charges(spinal_visit(prescription_changed=True, performer_role=role), reference)
    assert charges.line(code).rule == "R8"
    assert not {"95990", "95991", "62367", "62368"} & set(codes(charges))


def test_r8_needs_a_programmable_pump(reference: ReferenceData) -> None:
    charges = compute_charges(spinal_visit(prescription_changed=True, pump_family="constant_flow"), reference)
    assert "95990" in codes(charges)


def test_r9_pharmacy_supplied_drug_has_no_line(reference: ReferenceData) -> None:
    charges = compute_charges(spinal_visit(drugs=({**BACLOFEN_40, "supplied_by": "pharmacy"},)), reference)
    assert codes(charges) == ["95990"]


def test_r10_single_dose_drug_with_and_without_waste(reference: ReferenceData) -> None:
    no_waste = compute_charges(visit(drugs=(FLOXURIDINE_252,)), reference)
    line = no_waste.line("J9200")
    assert (line.rule, line.units, line.modifiers, line.ndc) == ("R10", 1, ("JZ", "KD"), "12345-6789-01")

    two_vials = compute_charges(visit(drugs=({**FLOXURIDINE_252, "opened_mg": "1000 mg"},)), reference)
    given = two_vials.line("J9200", "KD")
    waste = two_vials.line("J9200", "JW", "KD")
    assert (given.units, waste.units) == (1, 1)
    assert waste.narrative == "discarded 748 mg from single-dose container"
    assert waste.expected_allowable_usd == 4128.0


def test_r11_multi_dose_has_no_jw_jz_and_patency_is_maintenance(reference: ReferenceData) -> None:
    morphine = {"drug_id": "morphine", "administered_mg": "25 mg", "container": "multi"}
    charges = compute_charges(spinal_visit(drugs=(morphine,)), reference)
    line = charges.line("J2274")
    assert (line.rule, line.units, line.modifiers) == ("R11", 3, ("KD",))

    hai = compute_charges(visit(drugs=(HEPARIN_LOCK,)), reference)
    heparin = hai.line("J1644")
    assert (heparin.rule, heparin.units, heparin.status, heparin.bundled_into) == ("R11", 10, NOT_BILLABLE, "96522")
    assert heparin.status_reason is not None
    assert "pump maintenance" in heparin.status_reason


def test_r12_compounded_fill_is_one_line_with_the_profile_code(reference: ReferenceData) -> None:
    compound = (
        {**BACLOFEN_40, "compounded": True, "invoice_ref": "INV-77"},
        {"drug_id": "morphine", "administered_mg": "20 mg", "container": "multi", "compounded": True},
    )
    medicare = compute_charges(spinal_visit(drugs=compound), reference)
    line = medicare.line("J7999")
    assert (line.rule, line.units, line.modifiers) == ("R12", 1, ("KD",))
    assert line.narrative == (
        "Compounded pump fill: Baclofen intrathecal 40 mg; Morphine sulfate, preservative-free 20 mg; invoice INV-77"
    )
    assert not {"J0475", "J2274"} & set(codes(medicare))

    commercial = compute_charges(spinal_visit(drugs=compound, payer_profile="commercial_example"), reference)
    assert commercial.line("J3490").modifiers == ()
    chemo = compute_charges(
        visit(payer_profile="commercial_example", drugs=({**FLOXURIDINE_252, "compounded": True},)), reference
    )
    assert "J9999" in codes(chemo)


def test_r13_refill_kit_is_bundled_under_medicare_and_billable_where_the_profile_says(
    reference: ReferenceData,
) -> None:
    kit = compute_charges(visit(supplies=(REFILL_KIT,)), reference).line("A4220")
    assert (kit.status, kit.patient_liability_usd, kit.bundled_into, kit.lot) == (NOT_BILLABLE, 0.0, "96522", "KIT-9")
    commercial = compute_charges(visit(supplies=(REFILL_KIT,), payer_profile="commercial_example"), reference)
    assert commercial.line("A4220").status is BILLABLE


def test_r14_separate_em_gets_25_but_99211_and_tricare_refill_visits_do_not_pay(reference: ReferenceData) -> None:
    em = {"code": "99214", "performer_id": "MD-1", "performer_role": "physician_qhp"}
    charges = compute_charges(visit(separate_em=em), reference)
    line = charges.line("99214")
    assert (line.rule, line.modifiers, line.status, line.performer_id) == ("R14", ("25",), BILLABLE, "MD-1")
    assert line.expected_allowable_usd == 135.61  # 4.06 x 33.4009; the guide rounds to $136

    nurse = {"code": "99211", "performer_id": "RN-7", "performer_role": "clinical_staff"}
    level_one = compute_charges(visit(separate_em=nurse), reference).line("99211")
    assert (level_one.status, level_one.bundled_into) == (NOT_BILLABLE, "96522")

    tricare = compute_charges(visit(separate_em=em, payer_profile="tricare"), reference).line("99214")
    assert tricare.status is NOT_BILLABLE
    assert tricare.status_reason is not None
    assert "no office visit" in tricare.status_reason


def test_r15_units_above_the_mue_move_to_a_held_line(reference: ReferenceData) -> None:
    two_kits = compute_charges(
        visit(supplies=({**REFILL_KIT, "quantity": 2},), payer_profile="commercial_example"), reference
    )
    capped, excess = (line for line in two_kits.lines if line.code == "A4220")
    assert (capped.units, capped.status) == (1, BILLABLE)
    assert (excess.units, excess.status, excess.rule, excess.review_required) == (1, NOT_BILLABLE, "R13", True)
    assert excess.status_reason is not None
    assert excess.status_reason.startswith("R15")
    assert [w.code for w in two_kits.warnings] == ["mue_exceeded"]

    second_refill = compute_charges(visit(same_day_codes=("96522",)), reference).line("96522")
    assert second_refill.status is NOT_BILLABLE
    assert second_refill.review_required


def test_r16_ncci_pairs_and_the_imaging_modifier_rule(reference: ReferenceData) -> None:
    analysis = compute_charges(
        spinal_visit(refilled=False, analysis_done=True, drugs=(), same_day_codes=("95990",)), reference
    )
    line = analysis.line("62367")
    assert (line.status, line.bundled_into) == (NOT_BILLABLE, "95990")

    fluoro = compute_charges(hai_visit(imaging_guidance="fluoroscopy"), reference).line("77002")
    assert (fluoro.rule, fluoro.status, fluoro.expected_allowable_usd) == ("R16", BILLABLE, 121.25)
    beside_surgery = compute_charges(hai_visit(imaging_guidance="fluoroscopy", same_day_codes=("36260",)), reference)
    assert beside_surgery.line("77002").status is NOT_BILLABLE
    distinct = compute_charges(
        hai_visit(imaging_guidance="fluoroscopy", same_day_codes=("36260",), distinct_service_documented=True),
        reference,
    )
    assert distinct.line("77002").modifiers == ("XU",)
    ultrasound = compute_charges(hai_visit(imaging_guidance="ultrasound", place_of_service="11"), reference)
    assert ultrasound.line("76937").expected_allowable_usd == 40.42  # 1.21 x 33.4009; guide $40


def test_r17_coverage_pre_check_warns_without_changing_lines(reference: ReferenceData) -> None:
    clean = compute_charges(hai_visit(), reference)
    assert clean.warnings == ()

    no_cancer = compute_charges(hai_visit(diagnoses=("Z45.1",), documentation=()), reference)
    assert [w.code for w in no_cancer.warnings] == ["dx_not_supporting", "documentation_missing"]
    assert {w.rule for w in no_cancer.warnings} == {"R17"}
    assert [line.status for line in no_cancer.lines] == [line.status for line in clean.lines]

    ziconotide = {"drug_id": "ziconotide", "administered_mg": "0.5 mg", "container": "multi"}
    tricare = compute_charges(spinal_visit(drugs=(ziconotide,), payer_profile="tricare"), reference)
    assert [w.code for w in tricare.warnings] == ["label_pair", "no_covered_use"]

    heparin = {"drug_id": "heparin", "administered_usp_u": "30000 U", "container": "multi"}
    excluded = compute_charges(visit(drugs=(heparin,)), reference)
    assert [w.code for w in excluded.warnings] == ["excluded_use"]

    aetna_like = compute_charges(hai_visit(payer_profile="commercial_example"), reference)
    assert [w.code for w in aetna_like.warnings] == ["prior_auth"]

    spinal = compute_charges(spinal_visit(documentation=SPINAL_DOCUMENTATION[:1]), reference)
    assert [w.code for w in spinal.warnings] == ["documentation_missing"]
