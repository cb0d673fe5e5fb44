"""Builders for the billing tests: valid visits changed only where a test says so; data-file edits."""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pump_service.billing import VisitFacts

DAY = date(2026, 11, 2)
SERVICE_AT = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

FUDR_NDC = "12345-6789-01"
# 0.12 mg/kg/day x 70 kg x 30 days' worth in the domain tests = 252 mg, from one 500 mg vial.
FLOXURIDINE_252 = {
    "drug_id": "floxuridine",
    "administered_mg": "252 mg",
    "opened_mg": "500 mg",
    "container": "single",
    "ndc": FUDR_NDC,
    "lot": "FU-1",
}
HEPARIN_LOCK = {"drug_id": "heparin", "administered_usp_u": "10000 U", "container": "multi", "purpose": "patency"}
SALINE_DILUENT = {"drug_id": "saline", "administered_ml": "20 mL", "container": "single", "purpose": "diluent"}
# 20 mL of 2000 mcg/mL = 40 mg (billing.md §3.2) from two 20 mg ampoules.
BACLOFEN_40 = {"drug_id": "baclofen", "administered_mg": "40 mg", "opened_mg": "40 mg", "container": "single"}
REFILL_KIT = {"code": "A4220", "lot": "KIT-9"}

HAI_DIAGNOSES = ("Z45.1", "C78.7", "C18.7")
SPINAL_DOCUMENTATION = ("trial_response", "noninvasive_therapy_failed")


def visit(**overrides: Any) -> VisitFacts:
    """An office (POS 11) intra-arterial refill by a nurse under the Medicare profile, no drugs."""
    fields: dict[str, Any] = {
        "visit_key": "V-100",
        "service_at": SERVICE_AT,
        "service_date": DAY,
        "patient_ref": "P-1",
        "route": "intra_arterial",
        "pump_family": "constant_flow",
        "refilled": True,
        "performer_role": "clinical_staff",
        "performer_id": "RN-7",
        "supervising_id": "MD-1",
        "place_of_service": "11",
        "payer_profile": "medicare",
        "diagnoses": HAI_DIAGNOSES,
        "documentation": ("liver_limited_unresectable",),
    }
    fields.update(overrides)
    return VisitFacts.model_validate(fields)


def hai_visit(**overrides: Any) -> VisitFacts:
    """The worked HAI visit: floxuridine 252 mg, heparin lock 10,000 U, a refill kit."""
    fields: dict[str, Any] = {"drugs": (FLOXURIDINE_252, HEPARIN_LOCK), "supplies": (REFILL_KIT,)}
    fields.update(overrides)
    return visit(**fields)


def spinal_visit(**overrides: Any) -> VisitFacts:
    """An intrathecal baclofen refill of a programmable pump by a nurse, no dose change."""
    fields: dict[str, Any] = {
        "route": "intrathecal",
        "pump_family": "programmable",
        "diagnoses": ("Z45.1", "G80.1"),
        "documentation": SPINAL_DOCUMENTATION,
        "drugs": (BACLOFEN_40,),
    }
    fields.update(overrides)
    return visit(**fields)


def edit_data_file(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must occur) with ``new`` in a data file."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))
