"""Charge exports built by the service itself: FHIR R4 ChargeItem bundles, HL7 v2.5 DFT^P03, CSV.

Each takes charge events (charges and their corrections) and returns JSON-ready dicts or text; ids
come from the events, so exporting the same events twice gives the same output apart from the
message time the caller passes in.
"""

from pump_service.billing.exports.charge_csv import CSV_COLUMNS, export_csv
from pump_service.billing.exports.dft_p03 import export_dft_p03
from pump_service.billing.exports.fhir_bundle import (
    CPT_SYSTEM,
    EVENT_ID_SYSTEM,
    HCPCS_SYSTEM,
    MODIFIER_EXTENSION_URL,
    NDC_SYSTEM,
    charge_item,
    export_fhir_bundle,
)

__all__ = [
    "CPT_SYSTEM",
    "CSV_COLUMNS",
    "EVENT_ID_SYSTEM",
    "HCPCS_SYSTEM",
    "MODIFIER_EXTENSION_URL",
    "NDC_SYSTEM",
    "charge_item",
    "export_csv",
    "export_dft_p03",
    "export_fhir_bundle",
]
