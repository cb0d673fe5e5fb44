"""``audit verify``: read the whole chain in sequence order and judge it (``domain/audit_chain``)."""

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from pump_service.domain.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    ChainFault,
    ChainProblem,
    ChainVerdict,
    StoredEntry,
    verify_chain,
)
from pump_service.persistence.audit_models import CHAIN_HEAD_ID, AuditChainHead, AuditEntry

__all__ = ["verify_audit_chain"]

_ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]
_HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
_BATCH = 1000


def _stored_entries(session: Session, from_seq: int) -> Iterator[StoredEntry]:
    query = select(_ENTRIES).where(_ENTRIES.c.seq >= from_seq).order_by(_ENTRIES.c.seq)
    result = session.connection().execute(query.execution_options(yield_per=_BATCH))
    for row in result:
        record = AuditRecord(
            seq=int(row.seq),
            at=row.at,
            actor_user=row.actor_user,
            actor_role=row.actor_role,
            station_id=row.station_id,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            before=row.before,
            after=row.after,
            note=row.note,
            prev_hash=row.prev_hash,
        )
        yield StoredEntry(record=record, stored_hash=row.entry_hash)


def verify_audit_chain(session: Session, *, newest: int | None = None) -> ChainVerdict:
    """Check every entry (or the ``newest`` ones) against its hash, its predecessor and the chain head.

    ``newest`` bounds the work for a page that shows the verdict on every view: the entries
    before the window are trusted as stored (``pump-service audit verify`` checks them all).
    """
    # FOR SHARE: appenders (FOR UPDATE) wait until the check ends, so head and entries agree.
    head_row = select(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID).with_for_update(read=True)
    head = session.connection().execute(head_row).one_or_none()
    if head is None:
        missing = ChainProblem(1, ChainFault.HEAD_MISMATCH, "the chain head row is missing (deleted)")
        return ChainVerdict(checked=0, last_seq=0, problem=missing)
    head_seq, head_hash = int(head.last_seq), str(head.last_hash)
    from_seq, from_hash = 1, GENESIS_HASH
    if newest is not None and head_seq > newest:
        from_seq = head_seq - newest + 1
        before = session.connection().execute(select(_ENTRIES.c.entry_hash).where(_ENTRIES.c.seq == from_seq - 1))
        stored = before.scalar_one_or_none()
        if stored is None:
            detail = f"entry {from_seq - 1} is missing (deleted)"
            return ChainVerdict(checked=0, last_seq=0, problem=ChainProblem(from_seq - 1, ChainFault.MISSING, detail))
        from_hash = str(stored)
    entries = _stored_entries(session, from_seq)
    return verify_chain(entries, head_seq=head_seq, head_hash=head_hash, from_seq=from_seq, from_hash=from_hash)
