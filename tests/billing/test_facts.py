"""VisitFacts: quantity strings become canonical floats; malformed or contradictory facts are refused."""

from datetime import datetime

import pytest
from pydantic import ValidationError

from pump_service.billing import BillingDataError, ReferenceData, compute_charges, load_reference
from pump_service.errors import RuleViolationError
from schemas.drug_catalogue import DRUGS
from tests.billing.builders import DAY, FLOXURIDINE_252, REFILL_KIT, hai_visit, visit


def test_quantity_strings_are_parsed_to_canonical_floats() -> None:
    facts = visit(
        drugs=(
            {**FLOXURIDINE_252, "administered_mg": "0.252 g", "opened_mg": 500},
            {"drug_id": "heparin", "administered_usp_u": "10000 units", "container": "multi", "purpose": "patency"},
            {"drug_id": "ziconotide", "administered_mg": "250 mcg", "container": "multi"},
        )
    )
    floxuridine, heparin, ziconotide = facts.drugs
    assert floxuridine.administered_mg == pytest.approx(252.0)
    assert (floxuridine.opened_mg, floxuridine.amount_unit) == (500.0, "mg")
    assert (heparin.administered_usp_u, heparin.amount_unit) == (10000.0, "USP_U")
    assert ziconotide.administered_mg == pytest.approx(0.25)


@pytest.mark.parametrize("code", ["C78-7", "78.7", "C78.77777", "C787", "", "c78..7"])
def test_malformed_icd10_is_refused(code: str) -> None:
    with pytest.raises(ValidationError, match="malformed ICD-10-CM code"):
        visit(diagnoses=(code,))


def test_icd10_is_normalised_to_upper_case() -> None:
    assert visit(diagnoses=("c78.7", "c49.a0")).diagnoses == ("C78.7", "C49.A0")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"refilld": True}, "Extra inputs are not permitted"),
        ({"place_of_service": "1"}, "place_of_service"),
        ({"service_at": datetime(2026, 11, 2, 14, 30)}, "timezone"),  # noqa: DTZ001 - a naive time must be refused
        ({"service_date": DAY.replace(day=9)}, "clinic-local date"),
        ({"route": "intrathecal", "chemo_cycle_initiated_today": True}, "intra-arterial"),
        ({"analysis_done": True}, "no electronics"),
        ({"same_day_codes": ("9652",)}, "malformed CPT/HCPCS code"),
        ({"diagnoses": ("C78.7", "c78.7")}, "listed twice"),
        ({"separate_em": {"code": "99214", "performer_id": "RN-7", "performer_role": "clinical_staff"}}, "physician"),
    ],
)
def test_malformed_or_contradictory_facts_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        visit(**changes)


@pytest.mark.parametrize(
    ("drug", "message"),
    [
        ({**FLOXURIDINE_252, "drug_id": "fudr"}, "unknown drug"),
        ({**FLOXURIDINE_252, "administered_mg": "30000 U"}, "expected a \\[mass\\] quantity"),
        ({**FLOXURIDINE_252, "administered_usp_u": 5}, "use administered_mg, not administered_usp_u"),
        ({"drug_id": "floxuridine", "container": "single", "opened_mg": 500}, "administered_mg is required"),
        ({**FLOXURIDINE_252, "opened_mg": None}, "opened_mg is required for a single-dose container"),
        ({**FLOXURIDINE_252, "opened_mg": "200 mg"}, "less than administered_mg"),
        ({**FLOXURIDINE_252, "administered_mg": "-3 mg"}, "must not be negative"),
        ({"drug_id": "saline", "administered_ml": 10, "container": "multi"}, "vehicle"),
        ({**FLOXURIDINE_252, "ndc": "1234567890"}, "malformed NDC"),
        ({**FLOXURIDINE_252, "ndc_qty": 1}, "ndc_qty and ndc_unit go together"),
        ({**FLOXURIDINE_252, "containr": "single"}, "Extra inputs"),
    ],
)
def test_malformed_drug_entries_are_refused(drug: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        visit(drugs=(drug,))


@pytest.mark.parametrize(
    ("ndc", "normalised"),
    [
        ("1234-5678-90", "01234-5678-90"),
        ("12345-678-90", "12345-0678-90"),
        ("12345-6789-1", "12345-6789-01"),
        ("12345678901", "12345-6789-01"),
    ],
)
def test_ndc_is_normalised_to_5_4_2(ndc: str, normalised: str) -> None:
    assert visit(drugs=({**FLOXURIDINE_252, "ndc": ndc},)).drugs[0].ndc == normalised


def test_pharmacy_supplied_single_dose_needs_no_opened_amount() -> None:
    facts = visit(drugs=({**FLOXURIDINE_252, "opened_mg": None, "supplied_by": "pharmacy"},))
    assert facts.drugs[0].opened_mg is None


def test_unknown_supply_raises_and_returns_nothing(reference: ReferenceData) -> None:
    with pytest.raises(RuleViolationError, match="A4221 is not a known supply code") as caught:
        compute_charges(hai_visit(supplies=(REFILL_KIT, {"code": "A4221"})), reference)
    assert caught.value.field == "supplies"
    with pytest.raises(RuleViolationError, match="J9200 is not a known supply code"):
        compute_charges(visit(supplies=({"code": "J9200"},)), reference)


def test_a_drug_missing_from_the_reference_raises_instead_of_a_partial_set() -> None:
    reference = load_reference(on=DAY, catalogue={k: v for k, v in DRUGS.items() if k != "dexamethasone"})
    dexamethasone = {"drug_id": "dexamethasone", "administered_mg": "20 mg", "container": "multi"}
    with pytest.raises(BillingDataError, match="'dexamethasone' has no billing entry"):
        compute_charges(hai_visit(drugs=(FLOXURIDINE_252, dexamethasone)), reference)
