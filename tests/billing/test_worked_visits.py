"""Whole visits, line by line, and the figures of the 2026 HAI coding guide and TRICARE policy."""

from datetime import date

import pytest

from pump_service.billing import ChargeEvent, ChargeStatus, ReferenceData, compute_charges, expected_allowable
from pump_service.billing.reference import icd10_matches
from schemas.pump import DeliveryRoute
from tests.billing.builders import BACLOFEN_40, HEPARIN_LOCK, hai_visit, spinal_visit, visit

BILLABLE = ChargeStatus.BILLABLE
NOT_BILLABLE = ChargeStatus.NOT_BILLABLE


def summary(lines: tuple[ChargeEvent, ...]) -> list[tuple[object, ...]]:
    return [(line.code, line.modifiers, line.units, line.status.value, line.expected_allowable_usd) for line in lines]


def test_office_hai_floxuridine_refill_under_medicare(reference: ReferenceData) -> None:
    charges = compute_charges(hai_visit(), reference)
    assert summary(charges.lines) == [
        ("96522", (), 1, "billable", 125.25),
        ("J9200", ("JZ", "KD"), 1, "billable", 4128.0),  # 252 mg from a 500 mg vial: 1 unit, nothing discarded
        ("J1644", (), 10, "not-billable", 0.0),  # 10,000 units / 1,000
        ("A4220", (), 1, "not-billable", 0.0),
    ]
    kit = charges.line("A4220")
    assert (kit.patient_liability_usd, kit.bundled_into) == (0.0, "96522")
    assert [line.line_number for line in charges.lines] == [1, 2, 3, 4]
    assert charges.warnings == ()
    assert {line.dx_pointers for line in charges.lines} == {(1, 2, 3)}


def test_the_same_refill_in_hospital_outpatient_is_reported_by_the_hospital(reference: ReferenceData) -> None:
    charges = compute_charges(hai_visit(place_of_service="22"), reference)
    refill = charges.line("96522")
    assert (refill.status, refill.expected_allowable_usd) == (NOT_BILLABLE, 0.0)
    assert refill.status_reason is not None
    assert "facility" in refill.status_reason
    assert "22" in refill.status_reason
    assert charges.line("J9200").status is NOT_BILLABLE
    assert charges.billable == ()


def test_intrathecal_baclofen_refill_by_a_nurse_without_reprogramming(reference: ReferenceData) -> None:
    charges = compute_charges(spinal_visit(), reference)
    assert summary(charges.lines) == [
        ("95990", (), 1, "billable", None),  # no 2026 RVU in the sources: unknown, not invented
        ("J0475", ("JZ", "KD"), 4, "billable", None),  # 40 mg / 10 mg
    ]
    assert charges.line("95990").allowable_basis == "no 2026.1 fee schedule figure for 95990"


def test_intrathecal_dose_change_by_a_physician(reference: ReferenceData) -> None:
    charges = compute_charges(spinal_visit(prescription_changed=True, performer_role="physician_qhp"), reference)
    assert [line.code for line in charges.lines] == ["62370", "J0475"]


def test_port_flush_only(reference: ReferenceData) -> None:
    charges = compute_charges(
        visit(route="intravenous", refilled=False, port_flush_only=True, drugs=(HEPARIN_LOCK,)), reference
    )
    assert summary(charges.lines) == [("96523", (), 1, "billable", None), ("J1644", (), 10, "not-billable", 0.0)]
    assert charges.line("J1644").bundled_into is None  # nothing to bundle a flush drug into but the flush itself


def test_initiation_day(reference: ReferenceData) -> None:
    charges = compute_charges(hai_visit(chemo_cycle_initiated_today=True), reference)
    assert [line.code for line in charges.lines] == ["96425", "J9200", "J1644", "A4220"]
    assert charges.line("A4220").bundled_into == "96425"


def test_tricare_refill_visit_pays_no_office_visit(reference: ReferenceData) -> None:
    em = {"code": "99215", "performer_id": "MD-1", "performer_role": "physician_qhp"}
    charges = compute_charges(hai_visit(payer_profile="tricare", separate_em=em), reference)
    assert charges.line("99215").status is NOT_BILLABLE
    assert charges.line("96522").status is BILLABLE
    assert charges.line("96522").expected_allowable_usd is None  # TRICARE is not priced from the MPFS here
    assert charges.line("J9200").modifiers == ()  # no KD, no JW/JZ in the TRICARE profile


# reference-facts.md §2: (code, facility RVU, facility $, non-facility RVU, non-facility $); the guide
# uses CF 33.40 and whole dollars, the engine 33.4009 and cents.
GUIDE_FEES = [
    ("96522", None, None, 3.75, 125),
    ("77002", 0.81, 27, 3.63, 121),
    ("76937", 0.41, 14, 1.21, 40),
    ("36260", 18.96, 633, None, None),
    ("36261", 12.20, 407, None, None),
    ("36262", 9.48, 317, None, None),
    ("15860", 2.79, 93, None, None),
    ("37242", 12.37, 413, None, None),
    ("99214", 2.53, 85, 4.06, 136),
    ("99215", 3.76, 126, 5.76, 192),
]


@pytest.mark.parametrize(("code", "f_rvu", "f_usd", "nf_rvu", "nf_usd"), GUIDE_FEES)
def test_fee_schedule_agrees_with_the_2026_guide(
    reference: ReferenceData,
    code: str,
    f_rvu: float | None,
    f_usd: int | None,
    nf_rvu: float | None,
    nf_usd: int | None,
) -> None:
    medicare = reference.profile("medicare")
    fee = reference.fees[code]
    for rate, rvu, usd, pos in ((fee.facility, f_rvu, f_usd, "22"), (fee.nonfacility, nf_rvu, nf_usd, "11")):
        amount, _ = expected_allowable(code, 1, reference=reference, profile=medicare, place_of_service=pos)
        if rvu is None:
            assert rate.not_payable
            assert amount is None
        else:
            assert rate.rvu == rvu
            assert amount == round(rvu * 33.4009, 2)
            assert amount is not None
            assert abs(amount - (usd or 0)) < 1


def test_96522_non_facility_allowable_is_3_75_rvu_times_the_2026_conversion_factor(reference: ReferenceData) -> None:
    assert reference.conversion_factor_usd_per_rvu == 33.4009
    amount, basis = expected_allowable(
        "96522", 1, reference=reference, profile=reference.profile("medicare"), place_of_service="11"
    )
    assert amount == 125.25
    assert basis == "non-facility total RVU 3.75 x $33.4009 x 1"


@pytest.mark.parametrize(
    ("code", "usd"), [("J9200", 4128.0), ("J1644", 0.0), ("A4216", 0.0), ("J1100", 0.0), ("A4220", 0.0)]
)
def test_drug_and_supply_amounts_agree_with_the_guide(reference: ReferenceData, code: str, usd: float) -> None:
    assert reference.fees[code].nonfacility.usd == usd


@pytest.mark.parametrize(
    ("diagnoses", "supported"),
    [
        (("C22.0",), True),
        (("C22.2",), True),
        (("C22.8",), True),
        (("C22.1",), True),
        (("C78.7", "C18.0"), True),
        (("C78.7", "C18.9"), True),
        (("C78.7", "C19"), True),
        (("C78.7", "C20"), True),
        (("C78.7", "C21.8"), True),
        (("C78.7",), False),  # a secondary without a listed primary
        (("C18.7",), False),  # a primary without liver metastases
        (("C78.7", "C25.0"), False),  # pancreas is not a listed primary
        (("C49.A0",), False),  # GIST: Palmetto J/M only
        (("D01.7",), False),
    ],
)
def test_hai_icd10_lists_agree_with_the_guide(
    reference: ReferenceData, diagnoses: tuple[str, ...], supported: bool
) -> None:
    charges = compute_charges(hai_visit(diagnoses=diagnoses), reference)
    assert ("dx_not_supporting" not in [w.code for w in charges.warnings]) is supported


def test_regional_hai_codes_are_listed_for_the_palmetto_jurisdictions(reference: ReferenceData) -> None:
    regional = reference.coverage.groups["hai_regional"]
    assert all(icd10_matches(code, regional) for code in ("C49.A0", "C49.A9", "D01.7"))
    assert reference.coverage.uses["hai_chemotherapy"].regional_dx_rules == (("hai_regional",),)


def test_tricare_profile_restates_the_1986_policy(reference: ReferenceData) -> None:
    tricare = reference.profile("tricare")
    assert tricare.label_pairs == {
        (DeliveryRoute.INTRAVENOUS, "fluorouracil"),
        (DeliveryRoute.INTRA_ARTERIAL, "floxuridine"),
        (DeliveryRoute.EPIDURAL, "morphine"),
        (DeliveryRoute.INTRATHECAL, "morphine"),
        (DeliveryRoute.INTRATHECAL, "baclofen"),
    }
    assert tricare.covered_from == {
        "hai_chemotherapy": date(1988, 3, 14),
        "spinal_opioid": date(1991, 7, 25),
        "spinal_antispasmodic": date(1992, 8, 12),
    }
    assert set(tricare.excluded_uses) == {"heparin_for_thromboembolism", "insulin_for_diabetes"}
    assert not tricare.em_on_refill_visit


def test_tricare_baclofen_refill_is_a_labelled_covered_use(reference: ReferenceData) -> None:
    charges = compute_charges(spinal_visit(payer_profile="tricare", drugs=(BACLOFEN_40,)), reference)
    assert charges.warnings == ()
