"""``audit verify``: read the whole chain in sequence order and judge it (``domain/audit_chain``)."""

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from pump_service.domain.audit_chain import AuditRecord, ChainVerdict, StoredEntry, verify_chain
from pump_service.persistence.audit_models import CHAIN_HEAD_ID, AuditChainHead, AuditEntry

__all__ = ["verify_audit_chain"]

_ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]
_HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
_BATCH = 1000


def _stored_entries(session: Session) -> Iterator[StoredEntry]:
    result = session.connection().execute(select(_ENTRIES).order_by(_ENTRIES.c.seq).execution_options(yield_per=_BATCH))
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


def verify_audit_chain(session: Session) -> ChainVerdict:
    """Check every entry against its hash, its predecessor and the chain head."""
    # FOR SHARE: appenders (FOR UPDATE) wait until the check ends, so head and entries agree.
    head_row = select(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID).with_for_update(read=True)
    head = session.connection().execute(head_row).one_or_none()
    head_seq, head_hash = (0, "") if head is None else (int(head.last_seq), str(head.last_hash))
    return verify_chain(_stored_entries(session), head_seq=head_seq, head_hash=head_hash)
