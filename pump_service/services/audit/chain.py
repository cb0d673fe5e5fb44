"""Appending to the chain: give each queued entry the next sequence number and its hash.

The chain head's row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN
IMMEDIATE`` already makes a writer wait its turn) only here, at commit, after the transaction's
last flush: it is the last lock a transaction takes, so two writers can never deadlock over it,
and writers queue on it only for the few statements of the append.
"""

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from pump_service.domain.audit_chain import AuditRecord, entry_hash, jsonable
from pump_service.persistence.audit_models import CHAIN_HEAD_ID, AuditChainHead, AuditEntry
from pump_service.services.audit.pending import PendingEntry

__all__ = ["append_entries"]

_ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]
_HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]


def append_entries(session: Session, pending: list[PendingEntry]) -> int:
    """Write ``pending`` with Core statements on the session's connection; returns the last sequence."""
    connection = session.connection()
    head = connection.execute(
        select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == CHAIN_HEAD_ID).with_for_update()
    ).one()
    seq, previous = int(head.last_seq), str(head.last_hash)
    rows: list[dict[str, Any]] = []
    for entry in pending:
        seq += 1
        record = AuditRecord(
            seq=seq,
            at=entry.at,
            actor_user=entry.actor_user,
            actor_role=entry.actor_role,
            station_id=entry.station_id,
            action=entry.action,
            entity=entry.entity,
            entity_id=entry.entity_id,
            before=jsonable(entry.before),
            after=jsonable(entry.after),
            note=entry.note,
            prev_hash=previous,
        )
        previous = entry_hash(record)
        rows.append(
            {
                "seq": record.seq,
                "at": record.at,
                "actor_user": record.actor_user,
                "actor_role": record.actor_role,
                "station_id": record.station_id,
                "action": record.action,
                "entity": record.entity,
                "entity_id": record.entity_id,
                "before": record.before,
                "after": record.after,
                "note": record.note,
                "prev_hash": record.prev_hash,
                "entry_hash": previous,
            }
        )
    connection.execute(insert(_ENTRIES), rows)
    connection.execute(update(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID).values(last_seq=seq, last_hash=previous))
    return seq
