"""Charge capture for refill visits: visit facts in, charge events out, exports and delivery.

Pure and database-free; may import ``pump_service.persistence``/``domain``, ``schemas``, the
standard library, pint and pydantic, never the services, API, CLI, simulators or drivers. The
rule table, the data files and the exports are described in docs/billing.md.
"""

from pump_service.billing.charges import BillingWarning, ChargeEvent, ChargeSet, ChargeStatus, EventKind
from pump_service.billing.clinic_config import JURISDICTIONS, ClinicBillingConfig, with_clinic_profiles
from pump_service.billing.corrections import credit_event, line_event_id, void_event
from pump_service.billing.delivery import (
    DeliveryOutcome,
    DeliveryStatus,
    ExportFormat,
    FolderDestination,
    HttpDestination,
    RetryPolicy,
    deliver,
)
from pump_service.billing.drug_rules import billing_units
from pump_service.billing.engine import compute_charges, expected_allowable
from pump_service.billing.errors import BillingDataError
from pump_service.billing.exports import export_csv, export_dft_p03, export_fhir_bundle
from pump_service.billing.facts import (
    ContainerKind,
    Documentation,
    DrugGiven,
    DrugPurpose,
    EmService,
    ImagingGuidance,
    NdcUnit,
    PerformerRole,
    SuppliedBy,
    SupplyUsed,
    VisitFacts,
)
from pump_service.billing.loader import DATA_DIR, load_reference
from pump_service.billing.reference import ReferenceData

__all__ = [
    "DATA_DIR",
    "JURISDICTIONS",
    "BillingDataError",
    "BillingWarning",
    "ChargeEvent",
    "ChargeSet",
    "ChargeStatus",
    "ClinicBillingConfig",
    "ContainerKind",
    "DeliveryOutcome",
    "DeliveryStatus",
    "Documentation",
    "DrugGiven",
    "DrugPurpose",
    "EmService",
    "EventKind",
    "ExportFormat",
    "FolderDestination",
    "HttpDestination",
    "ImagingGuidance",
    "NdcUnit",
    "PerformerRole",
    "ReferenceData",
    "RetryPolicy",
    "SuppliedBy",
    "SupplyUsed",
    "VisitFacts",
    "billing_units",
    "compute_charges",
    "credit_event",
    "deliver",
    "expected_allowable",
    "export_csv",
    "export_dft_p03",
    "export_fhir_bundle",
    "line_event_id",
    "load_reference",
    "void_event",
    "with_clinic_profiles",
]
