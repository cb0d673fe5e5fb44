"""The two writes that keep notification delivery once-only when dispatchers overlap: insert and claim.

Two dispatchers run at once when two scheduler leaders overlap for a moment during a takeover.
:func:`insert_deliveries` lets the database's unique key decide which of them creates a delivery
row (``ON CONFLICT DO NOTHING``); :func:`claim_delivery` lets exactly one of them send a due row
(an atomic compare-and-set on the row's attempt count and due time). Both are audited as the ORM
hooks would audit them, being Core statements.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from pump_service.persistence.notification_models import NotificationDelivery, NotificationDeliveryState
from pump_service.persistence.rows import stored_id
from pump_service.services.audit.pending import capture

__all__ = ["CLAIM_NOTE", "DEFAULT_CLAIM_S", "Claim", "audit_claims", "claim_delivery", "insert_deliveries"]

# How long a claimed row is reserved for the dispatcher sending it: longer than a batch of sends
# takes (100 rows; a webhook times out after 10 s, and most answer in milliseconds).
DEFAULT_CLAIM_S = 900.0
CLAIM_NOTE = "claimed for sending: no other dispatcher sends it until the attempt is recorded"
_DELIVERIES = NotificationDelivery.__table__  # type: ignore[attr-defined]


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert the delivery rows whose key is still free (``ON CONFLICT DO NOTHING``), audited; returns how many.

    Two dispatchers (two leaders overlapping during a takeover) may both find a row missing: the
    unique key lets one insert it, and the other skips it instead of failing its whole step.
    """
    if not rows:
        return 0
    connection = session.connection()
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(_DELIVERIES)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_DELIVERIES.c.id, _DELIVERIES.c.key)
    )
    inserted = {key: row_id for row_id, key in connection.execute(statement, rows).all()}
    for row in rows:
        row_id = inserted.get(row["key"])
        if row_id is not None:
            capture(session, action="insert", entity=_DELIVERIES.name, entity_id=str(row_id), before=None,
                    after={"id": row_id, **row})  # fmt: skip
    return len(inserted)


@dataclass(frozen=True, slots=True)
class Claim:
    """One row this dispatcher claimed: its due time before, and until when the claim holds it."""

    delivery_id: int
    before: datetime | None
    until: datetime


def claim_delivery(session: Session, row: NotificationDelivery, *, now: datetime, claim_s: float) -> Claim | None:
    """Claim ``row`` for sending by this dispatcher: an atomic compare-and-set on its attempt and due time.

    The claim moves ``next_attempt_at`` ahead by ``claim_s``, so no other dispatcher picks the row
    meanwhile; the recorded attempt replaces it. A dispatcher that dies after claiming leaves the
    row to come back when the claim runs out (then it is sent again, with the same idempotency key).
    Returns None when another dispatcher claimed or recorded the row first.
    """
    claimed_until = now + timedelta(seconds=claim_s)
    result = session.connection().execute(
        update(_DELIVERIES)
        .where(
            _DELIVERIES.c.id == row.id,
            _DELIVERIES.c.state == NotificationDeliveryState.PENDING,
            _DELIVERIES.c.attempts == row.attempts,
            _DELIVERIES.c.next_attempt_at.is_not_distinct_from(row.next_attempt_at),
        )
        .values(next_attempt_at=claimed_until)
    )
    if result.rowcount != 1:
        return None
    claim = Claim(stored_id(row, f"delivery {row.key}"), row.next_attempt_at, claimed_until)
    session.expire(row, ["next_attempt_at"])
    return claim


def audit_claims(session: Session, claims: list[Claim]) -> None:
    """One audit entry for a step's claims (as the tick audits its due moments): bookkeeping, not a send."""
    if not claims:
        return
    capture(
        session,
        action="update",
        entity=_DELIVERIES.name,
        entity_id=None,
        before={"next_attempt_at": {str(c.delivery_id): c.before for c in claims}},
        after={"next_attempt_at": {str(c.delivery_id): c.until for c in claims}},
        note=CLAIM_NOTE,
    )
