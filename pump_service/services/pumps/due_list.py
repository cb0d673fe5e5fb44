"""Which pumps are due for a refill, soonest first, read by the indexed ``pump.next_due_at``."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from pump_service.errors import RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import Pump, PumpState
from pump_service.services.contracts import DueItem
from pump_service.services.paging import Page, PageRequest, rows_page, select_page

__all__ = ["DUE_LIST", "due_page", "list_due"]

DUE_LIST = "due"
MAX_WITHIN_DAYS = 3660


def list_due(session: Session, *, now: datetime, within_days: float = 14.0) -> list[DueItem]:
    """Pumps due before ``now + within_days``, overdue ones first (the CLI's list; the API pages it).

    Raises:
        RuleViolationError: a negative or absurd window.
    """
    pumps = repo.pumps_due_before(session, now + _window(within_days))
    return _items_of(session, pumps, now=now)


def due_page(session: Session, request: PageRequest, *, now: datetime, within_days: float = 14.0) -> Page[DueItem]:
    """A page of the pumps due before ``now + within_days``, by ``(next_due_at, serial)``.

    Only the page's rows are read: the window and the order are those of the indexed stored due date.

    Raises:
        RuleViolationError: a negative or absurd window, or a cursor of another list.
    """
    until = now + _window(within_days)
    due = select(Pump).where(
        col(Pump.next_due_at).is_not(None), col(Pump.next_due_at) <= until, col(Pump.state) != PumpState.EXPLANTED
    )
    statement = select_page(
        due, (col(Pump.next_due_at), col(Pump.serial)), (datetime, str), request=request, list_name=DUE_LIST
    )
    pumps, cursor = rows_page(
        session.exec(statement).all(),
        key=lambda p: (p.next_due_at or until, p.serial),
        request=request,
        list_name=DUE_LIST,
    )
    return Page(items=_items_of(session, pumps, now=now), next_cursor=cursor)


def _window(within_days: float) -> timedelta:
    if not 0 <= within_days <= MAX_WITHIN_DAYS:
        raise RuleViolationError(f"within_days must be between 0 and {MAX_WITHIN_DAYS}", field="within_days")
    return timedelta(days=within_days)


def _items_of(session: Session, pumps: Sequence[Pump], *, now: datetime) -> list[DueItem]:
    """The due items of ``pumps`` (one query for their patients)."""
    refs = repo.patient_refs(session, {p.patient_id for p in pumps if p.patient_id is not None})
    items = []
    for pump in pumps:
        if pump.next_due_at is None:  # the queries keep only pumps with a due date
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
