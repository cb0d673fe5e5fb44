"""FHIR R4 ``ChargeItem`` resources in a ``Bundle`` of type ``collection``, as JSON-ready dicts.

Mapping (billing.md §4.1, §6.3):

* ``id`` and ``identifier`` = the event id; ``status``: billable -> ``billable``, not-billable ->
  ``not-billable``; a void is the ORIGINAL item (same id) with ``entered-in-error``, the void's own
  event id in an extension; a credit is a new item with a negative quantity that references the
  original through an extension;
* ``code``: CPT (``http://www.ama-assn.org/go/cpt``) or HCPCS
  (``https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets``); ``quantity`` = billing units;
* modifiers: one :data:`MODIFIER_EXTENSION_URL` extension per modifier, in billing order (R4 has
  no modifier element); also extensions for the rule, the expected allowable and the POS;
* ``productCodeableConcept`` = NDC; ``reason`` = the pointed ICD-10-CM diagnoses; ``subject``,
  ``context`` and ``performer`` are logical references by identifier (pseudonymous patient);
  ``enterer`` = this service as a Device.

fhir.resources validates structure only, so the status and code systems are set here from enums.
"""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pump_service.billing.charges import ChargeEvent, EventKind
from pump_service.billing.corrections import EVENT_NAMESPACE
from pump_service.billing.reference import CodeSystem

__all__ = [
    "CPT_SYSTEM",
    "EVENT_ID_SYSTEM",
    "FHIR_BASE",
    "HCPCS_SYSTEM",
    "MODIFIER_EXTENSION_URL",
    "NDC_SYSTEM",
    "charge_item",
    "export_fhir_bundle",
]

FHIR_BASE = "https://pump-service.example.org/fhir"
MODIFIER_EXTENSION_URL = f"{FHIR_BASE}/StructureDefinition/procedure-modifier"
RULE_EXTENSION_URL = f"{FHIR_BASE}/StructureDefinition/charge-rule"
ALLOWABLE_EXTENSION_URL = f"{FHIR_BASE}/StructureDefinition/expected-allowable"
POS_EXTENSION_URL = f"{FHIR_BASE}/StructureDefinition/place-of-service"
VOID_EXTENSION_URL = f"{FHIR_BASE}/StructureDefinition/void-event"
REVERSES_EXTENSION_URL = f"{FHIR_BASE}/StructureDefinition/reverses-charge"
EVENT_ID_SYSTEM = f"{FHIR_BASE}/sid/charge-event"
PATIENT_SYSTEM = f"{FHIR_BASE}/sid/patient-ref"
VISIT_SYSTEM = f"{FHIR_BASE}/sid/visit-key"
PERFORMER_SYSTEM = f"{FHIR_BASE}/sid/performer"
DEVICE_SYSTEM = f"{FHIR_BASE}/sid/device"
PERFORMER_ROLE_SYSTEM = f"{FHIR_BASE}/CodeSystem/performer-role"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
_CODE_SYSTEMS = {CodeSystem.CPT: CPT_SYSTEM, CodeSystem.HCPCS: HCPCS_SYSTEM}


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _modifier_system(modifier: str) -> str:
    # Two-digit modifiers (25, 59) are CPT's; letter modifiers (JW, JZ, KD, XU) are HCPCS Level II.
    return CPT_SYSTEM if modifier.isdigit() else HCPCS_SYSTEM


def charge_item(event: ChargeEvent) -> dict[str, Any]:
    """One event as a FHIR R4 ChargeItem dict (see the module docstring for the mapping)."""
    item_id = event.original_event_id if event.kind is EventKind.VOID and event.original_event_id else event.event_id
    extensions: list[dict[str, Any]] = [
        {"url": MODIFIER_EXTENSION_URL, "valueCoding": {"system": _modifier_system(m), "code": m}}
        for m in event.modifiers
    ]
    extensions.append({"url": RULE_EXTENSION_URL, "valueString": event.rule})
    extensions.append({"url": POS_EXTENSION_URL, "valueCoding": {"system": POS_SYSTEM, "code": event.place_of_service}})
    if event.expected_allowable_usd is not None:
        money = {"value": event.expected_allowable_usd, "currency": "USD"}
        extensions.append({"url": ALLOWABLE_EXTENSION_URL, "valueMoney": money})
    if event.kind is EventKind.VOID:
        extensions.append(
            {"url": VOID_EXTENSION_URL, "valueIdentifier": {"system": EVENT_ID_SYSTEM, "value": event.event_id}}
        )
    if event.kind is EventKind.CREDIT:
        extensions.append(
            {"url": REVERSES_EXTENSION_URL, "valueReference": {"reference": f"ChargeItem/{event.original_event_id}"}}
        )

    status = "entered-in-error" if event.kind is EventKind.VOID else event.status.value
    quantity = -event.units if event.kind is EventKind.CREDIT else event.units
    resource: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": item_id,
        "extension": extensions,
        "identifier": [{"system": EVENT_ID_SYSTEM, "value": item_id}],
        "status": status,
        "code": {
            "coding": [{"system": _CODE_SYSTEMS[event.code_system], "code": event.code, "display": event.descriptor}]
        },
        "subject": {"type": "Patient", "identifier": {"system": PATIENT_SYSTEM, "value": event.patient_ref}},
        "context": {"type": "Encounter", "identifier": {"system": VISIT_SYSTEM, "value": event.visit_key}},
        "occurrenceDateTime": _instant(event.service_at),
        "performer": [
            {
                "function": {"coding": [{"system": PERFORMER_ROLE_SYSTEM, "code": event.performer_role.value}]},
                "actor": {"identifier": {"system": PERFORMER_SYSTEM, "value": event.performer_id}},
            }
        ],
        "quantity": {"value": quantity},
        "enterer": {"type": "Device", "identifier": {"system": DEVICE_SYSTEM, "value": "pump-service"}},
        "enteredDate": _instant(event.recorded_at),
    }
    reasons = [event.diagnoses[p - 1] for p in event.dx_pointers]
    if reasons:
        resource["reason"] = [{"coding": [{"system": ICD10CM_SYSTEM, "code": dx}]} for dx in reasons]
    if event.ndc is not None:
        resource["productCodeableConcept"] = {"coding": [{"system": NDC_SYSTEM, "code": event.ndc}]}
    notes = [text for text in (event.narrative, event.status_reason) if text]
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    return resource


def export_fhir_bundle(events: Iterable[ChargeEvent]) -> dict[str, Any]:
    """A ``collection`` Bundle of ChargeItems, one entry per item id, in event order.

    A void replaces the entry of its original when both are exported together (the item's latest
    state); its id is deterministic, derived from the item ids, so re-exports are identical.
    """
    entries: dict[str, dict[str, Any]] = {}
    for event in events:
        resource = charge_item(event)
        entries[resource["id"]] = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
    bundle_id = uuid.uuid5(EVENT_NAMESPACE, "bundle|" + "|".join(entries))
    return {"resourceType": "Bundle", "id": str(bundle_id), "type": "collection", "entry": list(entries.values())}
