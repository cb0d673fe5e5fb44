"""read_transaction: a snapshot that never takes SQLite's write lock, and refuses to hide a write."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from pump_service.persistence.db import make_engine, read_transaction, transaction
from pump_service.persistence.models import Patient


@pytest.mark.sqlite_only("a WAL snapshot that never takes SQLite's write lock")
def test_a_writer_commits_while_a_read_transaction_is_open_and_the_reader_keeps_its_snapshot(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with transaction(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
    with read_transaction(engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1
        with transaction(engine) as writer:  # would wait 5 s and fail if the reader held the write lock
            writer.execute(text("INSERT INTO t VALUES (2)"))
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1
    with read_transaction(engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()


def test_an_orm_change_inside_a_read_transaction_is_refused_not_dropped_silently(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="writes belong in transaction"), read_transaction(engine) as reader:
        reader.add(
            Patient(patient_ref="X-1", created_at=datetime(2026, 1, 1, tzinfo=UTC), created_by="t", station_id="t")
        )
    with read_transaction(engine) as reader:
        assert reader.exec(select(Patient)).all() == []
