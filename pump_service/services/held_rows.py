"""Rows a use case keeps loaded for the rest of its session.

The session's identity map holds rows weakly: a clinic or patient looked up by id and then
dropped is read again by the next lookup (a refill visit read its clinic seven times). Held in
``session.info``, which ends with the session, every later ``session.get`` of them is answered
from memory. A module of its own (no package ``__init__`` behind it), so the scheduling and the
pump modules both use it without importing each other.
"""

from sqlalchemy.orm import Session

__all__ = ["hold_rows"]

_HELD = "pump_service.held_rows"


def hold_rows(session: Session, *rows: object) -> None:
    """Keep ``rows`` (None skipped) in the session's identity map until the session ends."""
    held: list[object] = session.info.setdefault(_HELD, [])
    held.extend(row for row in rows if row is not None)
