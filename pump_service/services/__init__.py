"""Use cases: each owns its business rules and writes in the caller's transaction.

Importing any of them installs the audit trail's session hooks, so no use case can forget to be
audited (``services/audit``).
"""

from pump_service.services import audit as _audit  # noqa: F401  (installs the audit hooks)
