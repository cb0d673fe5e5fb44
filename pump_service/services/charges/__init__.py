"""Charge events of visits: recorded with the visit, listed, voided, exported and delivered to billing."""

from pump_service.services.charges.dispatch import dispatch_pending
from pump_service.services.charges.recording import export_charges, list_charges, record_visit_charges, void_charge

__all__ = ["dispatch_pending", "export_charges", "list_charges", "record_visit_charges", "void_charge"]
