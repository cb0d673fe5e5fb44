"""Exports parse with independent libraries (fhir.resources R4B, hl7apy, csv); ids are stable."""

import csv
import io
import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from pump_service.billing import (
    ChargeSet,
    ReferenceData,
    compute_charges,
    credit_event,
    export_csv,
    export_dft_p03,
    export_fhir_bundle,
    void_event,
)
from pump_service.billing.exports import CPT_SYSTEM, CSV_COLUMNS, EVENT_ID_SYSTEM, HCPCS_SYSTEM, MODIFIER_EXTENSION_URL
from tests.billing.builders import FUDR_NDC, LATER, SERVICE_AT, hai_visit


@pytest.fixture
def charges(reference: ReferenceData) -> ChargeSet:
    return compute_charges(hai_visit(), reference)


def items(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The ChargeItems as fhir.resources R4B parses them, dumped back to JSON for the assertions."""
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    resources = [entry.resource for entry in parsed.entry or []]
    charge_items = [resource for resource in resources if isinstance(resource, ChargeItem)]
    assert len(charge_items) == len(resources)
    return [item.model_dump(mode="json") for item in charge_items]


def modifiers(item: dict[str, Any]) -> list[str]:
    return [ext["valueCoding"]["code"] for ext in item["extension"] if ext["url"] == MODIFIER_EXTENSION_URL]


def test_fhir_bundle_parses_as_r4b_charge_items(charges: ChargeSet) -> None:
    parsed = items(export_fhir_bundle(charges.lines))
    assert [item["id"] for item in parsed] == [line.event_id for line in charges.lines]
    assert [item["status"] for item in parsed] == ["billable", "billable", "not-billable", "not-billable"]
    refill, floxuridine = parsed[0], parsed[1]
    assert refill["code"]["coding"][0] == {
        "system": CPT_SYSTEM,
        "code": "96522",
        "display": charges.lines[0].descriptor,
    }
    assert floxuridine["code"]["coding"][0]["system"] == HCPCS_SYSTEM
    assert modifiers(floxuridine) == ["JZ", "KD"]
    assert modifiers(refill) == []
    assert floxuridine["productCodeableConcept"]["coding"][0]["code"] == FUDR_NDC
    assert floxuridine["quantity"]["value"] == 1
    assert [reason["coding"][0]["code"] for reason in refill["reason"]] == ["Z45.1", "C78.7", "C18.7"]
    assert refill["identifier"][0] == {"system": EVENT_ID_SYSTEM, "value": charges.lines[0].event_id}
    assert refill["subject"]["identifier"]["value"] == "P-1"
    assert refill["occurrenceDateTime"] == "2026-11-02T14:30:00Z"


def test_fhir_void_is_entered_in_error_and_credit_reverses(charges: ChargeSet) -> None:
    refill, floxuridine = charges.lines[0], charges.lines[1]
    void = void_event(refill, "wrong patient", LATER)
    credit = credit_event(floxuridine, "drug returned", LATER)
    parsed = items(export_fhir_bundle([*charges.lines, void, credit]))
    assert len(parsed) == len(charges.lines) + 1  # the void replaces its original; the credit is new
    assert (parsed[0]["id"], parsed[0]["status"]) == (refill.event_id, "entered-in-error")
    assert parsed[0]["note"] == [{"text": "wrong patient"}]
    assert (parsed[-1]["id"], parsed[-1]["status"], parsed[-1]["quantity"]["value"]) == (
        credit.event_id,
        "billable",
        -1,
    )
    references = [ext.get("valueReference", {}).get("reference") for ext in parsed[-1]["extension"]]
    assert f"ChargeItem/{floxuridine.event_id}" in references


def test_dft_p03_parses_strictly_with_one_ft1_per_billable_line(charges: ChargeSet) -> None:
    message = export_dft_p03(charges.lines, at=LATER)
    assert "\n" not in message
    assert message.count("\r") == 6
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert parsed.validate()
    assert parsed.msh.msh_9.to_er7() == "DFT^P03^DFT_P03"
    ft1 = [group.ft1 for group in parsed.dft_p03_financial]
    assert [segment.ft1_7.ce_1.value for segment in ft1] == ["96522", "J9200"]  # not-billable lines are not posted
    refill, floxuridine = ft1
    assert refill.ft1_2.value == charges.lines[0].event_id
    assert refill.ft1_4.to_er7() == "20261102"
    assert (refill.ft1_6.value, refill.ft1_10.value, refill.ft1_7.ce_3.value) == ("CG", "1", "C4")
    assert [rep.ce_1.value for rep in refill.ft1_19] == ["Z45.1", "C78.7", "C18.7"]
    assert refill.ft1_20.to_er7() == "RN-7"
    assert [rep.value for rep in floxuridine.ft1_26] == ["JZ", "KD"]
    assert floxuridine.ft1_29.cne_1.value == FUDR_NDC
    assert floxuridine.ft1_7.ce_3.value == "HCPCS"


def test_dft_p03_credit_links_to_the_original(charges: ChargeSet) -> None:
    void = void_event(charges.lines[0], "entered twice", LATER)
    credit = credit_event(charges.lines[1], "drug returned", LATER)
    message = export_dft_p03([void, credit], at=LATER)
    # FT1-31 is typed SI in v2.5; the UUID link is agreed with the receiver, so parse tolerantly.
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
    ft1 = [group.ft1 for group in parsed.dft_p03_financial]
    assert [(s.ft1_6.value, s.ft1_2.value, s.ft1_31.value) for s in ft1] == [
        ("CD", void.event_id, charges.lines[0].event_id),
        ("CD", credit.event_id, charges.lines[1].event_id),
    ]


def test_dft_p03_refuses_mixed_visits_and_empty_messages(reference: ReferenceData, charges: ChargeSet) -> None:
    other = compute_charges(hai_visit(visit_key="V-200"), reference)
    with pytest.raises(ValueError, match="one visit"):
        export_dft_p03([*charges.lines, *other.lines], at=LATER)
    with pytest.raises(ValueError, match="no event to post"):
        export_dft_p03(charges.lines[2:], at=LATER)
    assert export_dft_p03(charges.lines, at=LATER, include_not_billable=True).count("FT1|") == 4


def test_dft_p03_escapes_delimiters(reference: ReferenceData) -> None:
    compound = ({"drug_id": "baclofen", "administered_mg": "40 mg", "container": "multi", "compounded": True,
                 "invoice_ref": "INV|7^a~b&c"},)  # fmt: skip
    charges = compute_charges(hai_visit(route="intrathecal", pump_family="programmable", drugs=compound), reference)
    message = export_dft_p03(charges.lines, at=LATER)
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    narrative = parsed.dft_p03_financial[1].ft1.ft1_8.to_er7()
    assert narrative.endswith("invoice INV\\F\\7\\S\\a\\R\\b\\T\\c")


def test_csv_has_the_fixed_header_and_one_row_per_event(charges: ChargeSet) -> None:
    void = void_event(charges.lines[3], "no kit used", LATER)
    text = export_csv([*charges.lines, void])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row["code"] for row in rows] == ["96522", "J9200", "J1644", "A4220", "A4220"]
    assert rows[1]["modifiers"] == "JZ;KD"
    assert rows[0]["expected_allowable_usd"] == "125.25"
    assert rows[0]["service_at"] == "2026-11-02T14:30:00Z"
    assert (rows[4]["kind"], rows[4]["status"], rows[4]["original_event_id"]) == (
        "void",
        "entered-in-error",
        charges.lines[3].event_id,
    )


def test_csv_neutralises_spreadsheet_formulas(reference: ReferenceData) -> None:
    facts = hai_visit(supplies=({"code": "A4220", "lot": "=HYPERLINK(1)"},))
    rows = list(csv.DictReader(io.StringIO(export_csv(compute_charges(facts, reference).lines))))
    assert rows[-1]["lot"] == "'=HYPERLINK(1)"


def test_ids_are_stable_across_recomputation_and_re_export(reference: ReferenceData, charges: ChargeSet) -> None:
    again = compute_charges(hai_visit(), reference)
    assert again == charges
    assert json.dumps(export_fhir_bundle(again.lines)) == json.dumps(export_fhir_bundle(charges.lines))
    assert export_dft_p03(again.lines, at=LATER) == export_dft_p03(charges.lines, at=LATER)
    assert export_csv(again.lines) == export_csv(charges.lines)
    assert void_event(charges.lines[0], "x", LATER).event_id == void_event(again.lines[0], "y", SERVICE_AT).event_id


def test_ids_change_with_the_visit_key_and_revision(reference: ReferenceData, charges: ChargeSet) -> None:
    ids = {line.event_id for line in charges.lines}
    other_key = compute_charges(hai_visit(visit_key="V-101"), reference)
    revised = compute_charges(hai_visit(revision=1), reference)
    assert not ids & {line.event_id for line in other_key.lines}
    assert not ids & {line.event_id for line in revised.lines}
    assert len(ids) == len(charges.lines)


def test_corrections_refuse_what_cannot_be_corrected(charges: ChargeSet) -> None:
    with pytest.raises(ValueError, match="no billed charge to credit"):
        credit_event(charges.lines[3], "kit", LATER)
    void = void_event(charges.lines[0], "x", LATER)
    with pytest.raises(ValueError, match="correct the original"):
        void_event(void, "again", LATER)
    with pytest.raises(ValueError, match="needs a reason"):
        void_event(charges.lines[0], "  ", LATER)
    with pytest.raises(ValueError, match="UTC offset"):
        void_event(charges.lines[0], "x", LATER.replace(tzinfo=None))
    assert charges.lines[0].status.value == "billable"  # the original is never changed
