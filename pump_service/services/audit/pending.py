"""Audit entries captured during a transaction and not yet written: who, when, what, before/after.

Entries wait in ``session.info`` until the transaction commits (``chain.py`` writes them then).
Each remembers the transaction (or savepoint) it was captured in, so a rolled-back savepoint takes
its entries with it, and a rolled-back transaction leaves none.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, SessionTransaction

from pump_service.services.actor import SYSTEM_USER, current_actor
from schemas.clock import Clock, SystemClock

__all__ = ["UNATTRIBUTED_NOTE", "PendingEntry", "audit_clock", "capture", "drop_rolled_back", "take_pending"]

_PENDING = "pump_service.audit.pending"
UNATTRIBUTED_NOTE = "no actor was set: attributed to the system"
UNKNOWN_STATION = "unknown"

_clock: ContextVar[Clock | None] = ContextVar("pump_service_audit_clock", default=None)
_system_clock = SystemClock()


@contextmanager
def audit_clock(clock: Clock) -> Iterator[Clock]:
    """Stamp the audit entries captured inside the block with ``clock`` (the service's injected one).

    Outside such a block the system clock stamps them: the entry still records the real moment
    of the change, only not in a test's or a bench's virtual time.
    """
    token = _clock.set(clock)
    try:
        yield clock
    finally:
        _clock.reset(token)


@dataclass(frozen=True, slots=True)
class PendingEntry:
    owner: SessionTransaction
    at: datetime
    actor_user: str
    actor_role: str | None
    station_id: str
    action: str
    entity: str
    entity_id: str | None
    before: Any
    after: Any
    note: str | None


def _innermost(session: Session) -> SessionTransaction:
    if not session.in_transaction():
        session.connection()  # a named event before any query: begin the transaction it belongs to
    owner = session.get_nested_transaction() or session.get_transaction()
    if owner is None:
        raise RuntimeError("the session did not begin a transaction")
    return owner


def capture(
    session: Session,
    *,
    action: str,
    entity: str,
    entity_id: str | None,
    before: Any,
    after: Any,
    note: str | None = None,
) -> None:
    """Queue one entry, attributed to the current actor (or, when none is set, to the system)."""
    actor = current_actor()
    if actor is None:
        user, role, station = SYSTEM_USER, None, UNKNOWN_STATION
        note = UNATTRIBUTED_NOTE if note is None else f"{note}; {UNATTRIBUTED_NOTE}"
    else:
        user, role, station = actor.user, (None if actor.role is None else actor.role.value), actor.station_id
    clock = _clock.get() or _system_clock
    entry = PendingEntry(
        owner=_innermost(session),
        at=clock.now(),
        actor_user=user,
        actor_role=role,
        station_id=station,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        after=after,
        note=note,
    )
    queue: list[PendingEntry] = session.info.setdefault(_PENDING, [])
    if action == "update" and entity_id is not None:
        for index in range(len(queue) - 1, -1, -1):
            earlier = queue[index]
            if (earlier.entity, earlier.entity_id) != (entity, entity_id):
                continue
            if _mergeable(earlier, entry):
                queue[index] = _merged(earlier, entry)
                return
            break
    queue.append(entry)


def _mergeable(earlier: PendingEntry, later: PendingEntry) -> bool:
    """The same row changed again in the same transaction (or savepoint), by the same actor."""
    return (
        earlier.action in ("insert", "update")
        and earlier.owner is later.owner
        and (earlier.actor_user, earlier.actor_role, earlier.station_id)
        == (later.actor_user, later.actor_role, later.station_id)
        and isinstance(earlier.after, dict)
        and isinstance(later.after, dict)
    )


def _merged(earlier: PendingEntry, later: PendingEntry) -> PendingEntry:
    """One entry for a row changed several times before the commit: first values before, last after.

    A refill updates its pump four or five times in one transaction (figures, due date, clinic,
    version); the trail records what the transaction changed, once.
    """
    after = {**earlier.after, **later.after}
    if earlier.action == "insert":
        return replace(earlier, after=after)
    before = {**(later.before or {}), **(earlier.before or {})}
    return replace(earlier, before=before, after=after)


def take_pending(session: Session) -> list[PendingEntry]:
    """Remove and return every queued entry (to be written now)."""
    pending: list[PendingEntry] = session.info.pop(_PENDING, [])
    return pending


def _alive(owner: SessionTransaction) -> bool:
    current: SessionTransaction | None = owner
    while current is not None:
        if not current.is_active:
            return False
        current = current.parent
    return True


def drop_rolled_back(session: Session) -> None:
    """Forget the entries captured in a transaction or savepoint that was rolled back.

    Called after every rollback: a failed flush inside a savepoint rolls the savepoint back
    without an event of its own, so each entry's transaction is checked instead.
    """
    pending: list[PendingEntry] = session.info.get(_PENDING, [])
    if pending:
        session.info[_PENDING] = [entry for entry in pending if _alive(entry.owner)]
