"""Reading the trail: newest first, filtered, one page at a time behind an opaque cursor."""

import base64
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from pump_service.errors import RuleViolationError
from pump_service.persistence.audit_models import AuditEntry
from schemas.clock import UtcDatetime

__all__ = [
    "DEFAULT_AUDIT_LIMIT",
    "MAX_AUDIT_LIMIT",
    "AuditEntryView",
    "AuditPage",
    "AuditQuery",
    "list_audit_entries",
]

DEFAULT_AUDIT_LIMIT = 50
MAX_AUDIT_LIMIT = 500
_CURSOR_PREFIX = "audit:"
_ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]


class AuditQuery(BaseModel):
    """Which entries to list; every filter is optional."""

    model_config = ConfigDict(extra="forbid")

    entity: str | None = Field(None, max_length=64, description="table name, e.g. pump, refill, charge_event")
    entity_id: str | None = Field(None, max_length=64, description="the row's id (needs entity)")
    user: str | None = Field(None, max_length=64, description="acting user id")
    since: UtcDatetime | None = Field(None, description="at or after (with a UTC offset)")
    until: UtcDatetime | None = Field(None, description="before (with a UTC offset)")
    limit: int = Field(DEFAULT_AUDIT_LIMIT, ge=1, le=MAX_AUDIT_LIMIT)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page")


class AuditEntryView(BaseModel):
    """One entry as stored, hashes included, so a reader can check it independently."""

    seq: int
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
    prev_hash: str
    entry_hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryView]
    next_cursor: str | None


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Raises: RuleViolationError: not a cursor this list issued."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        seq = int(text.removeprefix(_CURSOR_PREFIX))
    except ValueError:
        raise RuleViolationError("not a cursor of this list (pass next_cursor unchanged)", field="cursor") from None
    if not 0 < seq < 2**63:
        raise RuleViolationError("not a cursor of this list (pass next_cursor unchanged)", field="cursor")
    return seq


def list_audit_entries(session: Session, query: AuditQuery) -> AuditPage:
    """One page of entries, newest first.

    Raises:
        RuleViolationError: a cursor this list did not issue, or ``entity_id`` without ``entity``.
    """
    if query.entity_id is not None and query.entity is None:
        raise RuleViolationError("entity_id needs entity (ids repeat across tables)", field="entity_id")
    statement = select(_ENTRIES).order_by(_ENTRIES.c.seq.desc()).limit(query.limit + 1)
    if query.cursor is not None:
        statement = statement.where(_ENTRIES.c.seq < decode_cursor(query.cursor))
    if query.entity is not None:
        statement = statement.where(_ENTRIES.c.entity == query.entity)
    if query.entity_id is not None:
        statement = statement.where(_ENTRIES.c.entity_id == query.entity_id)
    if query.user is not None:
        statement = statement.where(_ENTRIES.c.actor_user == query.user)
    if query.since is not None:
        statement = statement.where(_ENTRIES.c.at >= query.since)
    if query.until is not None:
        statement = statement.where(_ENTRIES.c.at < query.until)
    rows = session.connection().execute(statement).all()
    items = [AuditEntryView.model_validate(row._mapping) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    return AuditPage(items=items, next_cursor=encode_cursor(items[-1].seq) if more else None)
