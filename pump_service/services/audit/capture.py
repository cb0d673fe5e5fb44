"""Every ORM change is audited without the use case asking: session events queue the entries.

- ``before_flush``: updates (the changed columns, old and new, plus the id) and deletes (every
  column) are read from the attribute history while the old values are still there;
- ``after_flush``: inserts, now that their primary keys exist (the same flush's updates and
  deletes are queued only here, once the flush has succeeded);
- ``before_commit``: one last flush, then ``chain.append_entries`` writes the queue with Core
  inserts in the same transaction: a rolled-back change leaves no entry, a committed one always
  has one. A rolled-back savepoint drops the entries captured inside it.

Secrets never enter the trail: a password hash or a CSRF token shows as ``[redacted]`` (so the
entry still says it changed). A login session's ``last_seen_at`` touch (written at most every
few minutes for the idle limit) is bookkeeping, not a change anyone made, and is not audited;
the login itself is.

Bulk device data is summarised: the rows a pump's own log yields on an interrogation (up to
hundreds per download) are the device's data, not a person's change, so each flush gets one
entry per pump saying how many rows arrived and which ids they took. Service-side log rows (a
person's action written to the device log) are audited one by one like every other row.
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import InstanceState, Session, SessionTransaction, UOWTransaction

from pump_service.domain.audit_chain import AuditAction
from pump_service.persistence.audit_models import AuditChainHead, AuditEntry
from pump_service.persistence.models import DeviceLogRecord
from pump_service.services.audit.chain import append_entries
from pump_service.services.audit.pending import capture, drop_rolled_back, take_pending

__all__ = ["SESSION_HOOKS", "capture_device_ingest", "device_ingest_summary", "install_audit_hooks"]

_STAGED = "pump_service.audit.staged"
REDACTED = "[redacted]"
_SECRET_COLUMNS: dict[str, frozenset[str]] = {
    "user_account": frozenset({"password_hash"}),
    "login_session": frozenset({"csrf_token"}),
}
_BOOKKEEPING_COLUMNS: dict[str, frozenset[str]] = {"login_session": frozenset({"last_seen_at"})}
_NEVER_AUDITED = frozenset({AuditEntry.__tablename__, AuditChainHead.__tablename__})
DEVICE_DATA_NOTE = "device data: one entry per ingest of a pump's log"


@dataclass(frozen=True, slots=True)
class _Change:
    action: AuditAction
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _table(state: InstanceState[Any]) -> str | None:
    table = getattr(state.mapper.local_table, "name", None)
    return None if table is None or table in _NEVER_AUDITED else str(table)


def _key_columns(state: InstanceState[Any]) -> list[str]:
    return [state.mapper.get_property_by_column(column).key for column in state.mapper.primary_key]


def _entity_id(state: InstanceState[Any], values: dict[str, Any]) -> str | None:
    parts = [values.get(key) for key in _key_columns(state)]
    return None if any(part is None for part in parts) else ":".join(str(part) for part in parts)


def _column_keys(state: InstanceState[Any]) -> list[str]:
    return [attr.key for attr in state.mapper.column_attrs]


def _redacted(table: str, values: dict[str, Any]) -> dict[str, Any]:
    secret = _SECRET_COLUMNS.get(table, frozenset())
    return {key: (REDACTED if key in secret and value is not None else value) for key, value in values.items()}


def _update(state: InstanceState[Any], table: str) -> _Change | None:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in _column_keys(state):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        if history.deleted:  # an old value not loaded before the change is simply not known
            before[key] = history.deleted[0]
        after[key] = history.added[0] if history.added else None
    if not after or after.keys() <= _BOOKKEEPING_COLUMNS.get(table, frozenset()):
        return None
    ids = {key: state.attrs[key].value for key in _key_columns(state)}
    return _Change(
        AuditAction.UPDATE,
        table,
        _entity_id(state, ids),
        _redacted(table, {**ids, **before}),
        _redacted(table, {**ids, **after}),
    )


def _delete(state: InstanceState[Any], table: str) -> _Change:
    # Reading each attribute loads any that expired, while the row still exists.
    before = {key: state.attrs[key].value for key in _column_keys(state)}
    return _Change(AuditAction.DELETE, table, _entity_id(state, before), _redacted(table, before), None)


def _insert_values(state: InstanceState[Any]) -> dict[str, Any]:
    loaded = state.dict
    return {key: loaded[key] for key in _column_keys(state) if key in loaded}


def _on_before_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    staged: list[_Change] = []
    for obj in session.dirty:
        state = inspect(obj)
        table = _table(state)
        if table is not None and session.is_modified(obj, include_collections=False):
            change = _update(state, table)
            if change is not None:
                staged.append(change)
    for obj in session.deleted:
        state = inspect(obj)
        table = _table(state)
        if table is not None:
            staged.append(_delete(state, table))
    session.info[_STAGED] = staged  # a flush that fails never reaches after_flush: its stage is replaced


def device_ingest_summary(
    pump_id: int, log_epoch: int, *, rows: int, ids: list[int], log_indices: list[int]
) -> dict[str, Any]:
    """The ``after`` of the one entry that stands for ``rows`` of a pump's own log rows stored together."""
    ids, log_indices = sorted(ids), sorted(log_indices)
    return {
        "pump_id": pump_id,
        "source": "pump",
        "log_epoch": log_epoch,
        "rows": rows,
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
        "first_log_index": log_indices[0] if log_indices else None,
        "last_log_index": log_indices[-1] if log_indices else None,
    }


def capture_device_ingest(
    session: Session, pump_id: int, log_epoch: int, *, ids: list[int], log_indices: list[int]
) -> None:
    """Queue the summary entry of log rows written with Core (no ORM object, so no flush hook sees them)."""
    capture(
        session,
        action=AuditAction.INSERT,
        entity=DeviceLogRecord.__tablename__,
        entity_id=None,
        before=None,
        after=device_ingest_summary(pump_id, log_epoch, rows=len(ids), ids=ids, log_indices=log_indices),
        note=DEVICE_DATA_NOTE,
    )


def _summarise_device_rows(rows: list[DeviceLogRecord]) -> list[_Change]:
    by_pump: dict[tuple[int, int], list[DeviceLogRecord]] = defaultdict(list)
    for row in rows:
        by_pump[(row.pump_id, row.log_epoch)].append(row)
    changes = []
    for (pump_id, epoch), group in sorted(by_pump.items()):
        summary = device_ingest_summary(
            pump_id,
            epoch,
            rows=len(group),
            ids=[row.id for row in group if row.id is not None],
            log_indices=[row.log_index for row in group if row.log_index is not None],
        )
        changes.append(_Change(AuditAction.INSERT, DeviceLogRecord.__tablename__, None, None, summary))
    return changes


def _on_after_flush(session: Session, _flush: UOWTransaction) -> None:
    changes: list[_Change] = session.info.pop(_STAGED, [])
    device_rows: list[DeviceLogRecord] = []
    for obj in session.new:
        if isinstance(obj, DeviceLogRecord) and obj.source == "pump":
            device_rows.append(obj)
            continue
        state = inspect(obj)
        table = _table(state)
        if table is not None:
            values = _insert_values(state)
            changes.append(
                _Change(AuditAction.INSERT, table, _entity_id(state, values), None, _redacted(table, values))
            )
    changes.extend(_summarise_device_rows(device_rows))
    for change in changes:
        note = DEVICE_DATA_NOTE if change.entity == DeviceLogRecord.__tablename__ and change.entity_id is None else None
        capture(
            session,
            action=change.action,
            entity=change.entity,
            entity_id=change.entity_id,
            before=change.before,
            after=change.after,
            note=note,
        )


def _on_before_commit(session: Session) -> None:
    session.flush()
    pending = take_pending(session)
    if pending:
        append_entries(session, pending)


def _on_after_soft_rollback(session: Session, _previous: SessionTransaction) -> None:
    drop_rolled_back(session)


def _on_after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction is over: nothing may carry over
        take_pending(session)
        session.info.pop(_STAGED, None)


# (event, listener) pairs on every ORM session; bench/audit.py removes them to price the audit.
SESSION_HOOKS = (
    ("before_flush", _on_before_flush),
    ("after_flush", _on_after_flush),
    ("before_commit", _on_before_commit),
    ("after_soft_rollback", _on_after_soft_rollback),
    ("after_transaction_end", _on_after_transaction_end),
)


def install_audit_hooks() -> None:
    """Listen on every ORM session (idempotent); called when the audit package is imported."""
    for name, listener in SESSION_HOOKS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
