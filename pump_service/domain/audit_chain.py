"""The audit trail's hash chain: how an entry is hashed and how a stored chain is judged.

Each entry's hash is SHA-256 over a canonical encoding of every field and the previous entry's
hash (sorted-key JSON without whitespace, ASCII only, timestamps as UTC ISO with microseconds),
so changing any field of any entry, removing one, or slipping one in breaks the chain from that
point on. A one-row chain head (last sequence, last hash) is written in the same transaction as
the entries, so a removed tail shows as well.

Pure logic: rows in, a verdict out. Loading them is the audit service's job.
"""

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "AuditAction",
    "AuditRecord",
    "ChainFault",
    "ChainProblem",
    "ChainVerdict",
    "StoredEntry",
    "canonical_encoding",
    "entry_hash",
    "jsonable",
    "verify_chain",
]

GENESIS_HASH = "0" * 64  # the "previous hash" of entry 1


class AuditAction(StrEnum):
    """What an entry records: a row's insert, update or delete, or a named event."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    TOKEN_ISSUED = "token_issued"  # noqa: S105 - an event name, not a secret
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 - an event name, not a secret


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """The hashed fields of one entry (everything but its own hash)."""

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


def _utc_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_encoding(record: AuditRecord) -> bytes:
    """The exact bytes that are hashed: the same on every backend, for the same stored values."""
    fields: dict[str, Any] = {
        "seq": record.seq,
        "at": _utc_iso(record.at),
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
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def entry_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical_encoding(record)).hexdigest()


class ChainFault(StrEnum):
    """How a stored chain can be wrong."""

    ALTERED = "altered"  # an entry's fields no longer give its stored hash
    MISSING = "missing"  # a sequence number in the middle is gone (a deleted entry)
    INSERTED = "inserted"  # an entry that does not link to its predecessor, or lies past the head
    TRUNCATED = "truncated"  # the last entries are gone: the head names a later sequence
    HEAD_MISMATCH = "head_mismatch"  # the last entry is not the one the head recorded


@dataclass(frozen=True, slots=True)
class ChainProblem:
    seq: int
    fault: ChainFault
    detail: str


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """The first problem found (None: intact) and how many entries were checked."""

    checked: int
    last_seq: int
    problem: ChainProblem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as read back: its hashed fields and the hash stored beside them."""

    record: AuditRecord
    stored_hash: str


def _first_problem(
    entries: Iterable[StoredEntry], head_seq: int, head_hash: str, from_seq: int, from_hash: str
) -> tuple[int, int, ChainProblem | None]:
    expected_seq = from_seq
    previous_hash = from_hash
    checked = 0
    for entry in entries:
        record = entry.record
        checked += 1
        if record.seq > head_seq:
            detail = f"entry {record.seq} lies past the chain head (last sequence {head_seq})"
            return checked, record.seq, ChainProblem(record.seq, ChainFault.INSERTED, detail)
        if record.seq != expected_seq:
            gap = f"{expected_seq}" if record.seq == expected_seq + 1 else f"{expected_seq}-{record.seq - 1}"
            detail = f"entry {gap} is missing (deleted): the next stored entry is {record.seq}"
            return checked, record.seq, ChainProblem(expected_seq, ChainFault.MISSING, detail)
        if entry_hash(record) != entry.stored_hash:
            detail = f"entry {record.seq} was altered: its fields do not give its stored hash"
            return checked, record.seq, ChainProblem(record.seq, ChainFault.ALTERED, detail)
        if record.prev_hash != previous_hash:
            detail = f"entry {record.seq} does not link to entry {record.seq - 1} (inserted or replaced)"
            return checked, record.seq, ChainProblem(record.seq, ChainFault.INSERTED, detail)
        previous_hash = entry.stored_hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if last_seq < head_seq:
        gap = f"{head_seq}" if last_seq + 1 == head_seq else f"{last_seq + 1}-{head_seq}"
        detail = f"the tail was truncated: entries {gap} are missing (the head records {head_seq})"
        return checked, last_seq, ChainProblem(last_seq + 1, ChainFault.TRUNCATED, detail)
    if head_seq and previous_hash != head_hash:
        detail = f"entry {last_seq} is not the entry the chain head recorded"
        return checked, last_seq, ChainProblem(last_seq, ChainFault.HEAD_MISMATCH, detail)
    return checked, last_seq, None


def verify_chain(
    entries: Iterable[StoredEntry],
    *,
    head_seq: int,
    head_hash: str,
    from_seq: int = 1,
    from_hash: str = GENESIS_HASH,
) -> ChainVerdict:
    """Judge ``entries`` (ascending, starting at ``from_seq``) against the chain head.

    ``from_hash`` is the stored hash of entry ``from_seq - 1`` when only the newest part is
    checked. Stops at the first problem, which names the first bad sequence number.
    """
    checked, last_seq, problem = _first_problem(entries, head_seq, head_hash, from_seq, from_hash)
    return ChainVerdict(checked=checked, last_seq=last_seq, problem=problem)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data, so what is stored is exactly what was hashed."""
    if isinstance(value, Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return _utc_iso(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
