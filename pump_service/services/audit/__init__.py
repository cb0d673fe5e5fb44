"""The audit trail: every state change and named event, hash-chained, append-only; verify and list.

Importing this package installs the session hooks that capture every ORM change
(``capture.py``); ``pump_service.services`` imports it, so every use case is audited.
"""

from pump_service.domain.audit_chain import AuditAction, ChainFault, ChainVerdict
from pump_service.services.audit.capture import install_audit_hooks
from pump_service.services.audit.events import record_event
from pump_service.services.audit.listing import (
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    AuditEntryView,
    AuditPage,
    AuditQuery,
    list_audit_entries,
)
from pump_service.services.audit.pending import UNATTRIBUTED_NOTE, audit_clock
from pump_service.services.audit.verification import verify_audit_chain

__all__ = [
    "DEFAULT_AUDIT_LIMIT",
    "MAX_AUDIT_LIMIT",
    "UNATTRIBUTED_NOTE",
    "AuditAction",
    "AuditEntryView",
    "AuditPage",
    "AuditQuery",
    "ChainFault",
    "ChainVerdict",
    "audit_clock",
    "install_audit_hooks",
    "list_audit_entries",
    "record_event",
    "verify_audit_chain",
]

install_audit_hooks()
