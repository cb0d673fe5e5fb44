"""Named events for the audit trail (login, a failed login, logout, a token issued): not row changes.

They join the chain like row changes do: queued now, written when the caller's transaction
commits. An event that must survive a failure (a failed login raises) has to be recorded in a
transaction that commits, not in the one the failure rolls back.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from pump_service.domain.audit_chain import AuditAction
from pump_service.services.audit.pending import capture

__all__ = ["record_event"]


def record_event(
    session: Session,
    action: AuditAction,
    entity: str,
    entity_id: str | None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record ``action`` on ``entity``/``entity_id`` by the current actor, with ``details`` as "after".

    ``details`` must not hold secrets (passwords, token values): the trail is read by managers.
    """
    capture(
        session,
        action=AuditAction(action).value,
        entity=entity,
        entity_id=entity_id,
        before=None,
        after=dict(details) if details is not None else None,
    )
