"""The audit trail's tables: append-only entries chained by hash, and the one-row chain head.

``audit_entry`` is append-only in the database itself (the migration adds triggers that refuse
UPDATE and DELETE), so the service cannot change history even by mistake; ``audit_verify`` finds
what someone with enough access to drop the triggers did anyway. ``audit_chain_head`` holds the
last sequence number and hash, written in the same transaction as the entries, so a removed
tail is detected too, and its row is what writers lock to take their turn on PostgreSQL.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from pump_service.persistence.types import UTCDateTime

__all__ = ["CHAIN_HEAD_ID", "AuditChainHead", "AuditEntry"]

CHAIN_HEAD_ID = 1  # the single row of audit_chain_head


class AuditEntry(SQLModel, table=True):
    """One state change or named event: who (user, role, station), when, what, before and after.

    ``before``/``after`` hold the columns of the row (for an update only the changed columns and
    the id); ``note`` says what the entry cannot (e.g. that no actor was set and the system is
    named instead). ``entry_hash`` covers every other column (``domain/audit_chain.py``).
    """

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_entity", "entity", "entity_id"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_user: str = Field(max_length=64, index=True)
    actor_role: str | None = Field(default=None, max_length=16)
    station_id: str = Field(max_length=64)
    action: str = Field(max_length=32)
    entity: str = Field(max_length=64)
    entity_id: str | None = Field(default=None, max_length=64)
    before: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    note: str | None = Field(default=None, max_length=200)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The chain's last sequence number and hash (one row, id 1; sequence 0 before any entry)."""

    __tablename__ = "audit_chain_head"

    id: int = Field(primary_key=True)
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: str = Field(max_length=64)
