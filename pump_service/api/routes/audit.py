"""The audit trail, for managers and admins: entries newest first, filtered, paged by cursor."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pump_service.api.auth import Principal, require
from pump_service.api.deps import SessionDep
from pump_service.domain.access import Permission
from pump_service.services.audit import (
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    AuditPage,
    AuditQuery,
    list_audit_entries,
)
from schemas.clock import UtcDatetime

router = APIRouter(tags=["audit"])

ReadAudit = Annotated[Principal, Depends(require(Permission.READ_AUDIT))]


@router.get("/audit", response_model=AuditPage)
def read_audit(
    _principal: ReadAudit,
    session: SessionDep,
    entity: Annotated[str | None, Query(max_length=64, description="table name, e.g. pump, refill")] = None,
    entity_id: Annotated[str | None, Query(max_length=64, description="the row's id (with entity)")] = None,
    user: Annotated[str | None, Query(max_length=64, description="acting user id")] = None,
    since: Annotated[UtcDatetime | None, Query(description="at or after (with a UTC offset)")] = None,
    until: Annotated[UtcDatetime | None, Query(description="before (with a UTC offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT, description="page size")] = DEFAULT_AUDIT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> AuditPage:
    """Entries newest first: who (user, role, station), when, what, before and after, and their hashes."""
    query = AuditQuery(
        entity=entity, entity_id=entity_id, user=user, since=since, until=until, limit=limit, cursor=cursor
    )
    return list_audit_entries(session, query)
