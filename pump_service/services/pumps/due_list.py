"""Which pumps are due for a refill, soonest first."""

from datetime import datetime, timedelta

from sqlmodel import Session

from pump_service.errors import RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.services.contracts import DueItem

__all__ = ["list_due"]


def list_due(session: Session, *, now: datetime, within_days: float = 14.0) -> list[DueItem]:
    """Pumps due before ``now + within_days``, overdue ones first.

    Raises:
        RuleViolationError: a negative or absurd window.
    """
    if not 0 <= within_days <= 3660:
        raise RuleViolationError("within_days must be between 0 and 3660", field="within_days")
    pumps = repo.pumps_due_before(session, now + timedelta(days=within_days))
    refs = repo.patient_refs(session, {p.patient_id for p in pumps if p.patient_id is not None})
    items = []
    for pump in pumps:
        if pump.next_due_at is None:  # the query keeps only pumps with a due date
            continue
        days = (pump.next_due_at - now).total_seconds() / 86_400
        items.append(
            DueItem(
                serial=pump.serial,
                model_id=pump.model_id,
                patient_ref=refs.get(pump.patient_id or -1),
                next_due_at=pump.next_due_at,
                next_due_reason=pump.next_due_reason,
                overdue=days < 0,
                days_until_due=round(days, 2),
            )
        )
    return items
