"""Visits a review found billed wrongly; each is now a rule."""

from pump_service.billing import ReferenceData, compute_charges
from tests.billing.builders import FLOXURIDINE_252, hai_visit, spinal_visit


def _billable(charges: object) -> list[tuple[str, tuple[str, ...], int]]:
    lines = charges.lines  # type: ignore[attr-defined]
    return [(line.code, tuple(line.modifiers), line.units) for line in lines if line.status == "billable"]


def test_one_drug_in_two_components_is_rounded_up_once(reference: ReferenceData) -> None:
    half = {**FLOXURIDINE_252, "administered_mg": "150 mg", "opened_mg": "250 mg"}
    charges = compute_charges(hai_visit(drugs=(half, {**half, "lot": "FU-2"})), reference)
    fudr = [line for line in _billable(charges) if line[0] == "J9200"]
    assert fudr == [("J9200", ("JZ", "KD"), 1)]  # 300 mg of one 500 mg vial, no waste


def test_a_compounded_heparin_lock_is_pump_maintenance_not_a_compound(reference: ReferenceData) -> None:
    lock = {"drug_id": "heparin", "administered_usp_u": "10000 U", "container": "multi", "purpose": "patency"}
    diluent = {"drug_id": "saline", "administered_ml": "20 mL", "container": "single", "purpose": "diluent"}
    charges = compute_charges(
        hai_visit(drugs=({**lock, "compounded": True}, {**diluent, "compounded": True})), reference
    )
    assert [code for code, _, _ in _billable(charges)] == ["96522"]
    refused = {line.code: line.status_reason for line in charges.lines if line.status != "billable"}
    assert "J7999" not in refused
    assert "pump maintenance" in (refused.get("J1644") or "")


def test_a_nurse_99211_beside_a_spinal_refill_is_not_billed(reference: ReferenceData) -> None:
    em = {"code": "99211", "performer_id": "RN-7", "performer_role": "clinical_staff"}
    charges = compute_charges(spinal_visit(separate_em=em), reference)
    assert "99211" not in [code for code, _, _ in _billable(charges)]
