"""Charge events of visits: recorded with the visit, listed, voided, batched, exported and delivered."""

from pump_service.services.charges.batches import charge_batch
from pump_service.services.charges.clinic_billing import clinic_billing_history, set_clinic_billing
from pump_service.services.charges.dispatch import dispatch_pending
from pump_service.services.charges.recording import (
    export_charges,
    list_charge_page,
    list_charges,
    record_visit_charges,
    void_charge,
)

__all__ = [
    "charge_batch",
    "clinic_billing_history",
    "dispatch_pending",
    "export_charges",
    "list_charge_page",
    "list_charges",
    "record_visit_charges",
    "set_clinic_billing",
    "void_charge",
]
