"""Helpers for the audit tests: read the trail back, as rows and as the chain head."""

from typing import Any

from sqlalchemy import Engine, select, text

from pump_service.persistence.audit_models import AuditChainHead, AuditEntry
from pump_service.persistence.db import transaction


def audit_rows(engine: Engine, **where: Any) -> list[AuditEntry]:
    """Every entry (in sequence order) whose columns equal ``where``."""
    with transaction(engine) as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)  # type: ignore[arg-type]
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return list(session.scalars(query).all())


def chain_head(engine: Engine) -> tuple[int, str]:
    with transaction(engine) as session:
        head = session.get_one(AuditChainHead, 1)
        return head.last_seq, head.last_hash


def drop_append_only_triggers(engine: Engine) -> None:
    """What an attacker with database access does first."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP TRIGGER audit_entry_no_update ON audit_entry"))
        else:
            connection.execute(text("DROP TRIGGER audit_entry_no_update"))
            connection.execute(text("DROP TRIGGER audit_entry_no_delete"))


def drop_chain_head_trigger(engine: Engine) -> None:
    """The trigger that keeps the chain head's one row from being deleted, gone."""
    on_table = " ON audit_chain_head" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as connection:
        connection.execute(text(f"DROP TRIGGER audit_chain_head_no_delete{on_table}"))
