import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, Table, func, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError

from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.models import Patient
from pump_service.persistence.types import UTCDateTime


@pytest.mark.sqlite_only("WAL and foreign_keys are SQLite PRAGMAs")
def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_datetimes_come_back_aware_utc(engine: Engine) -> None:
    plus_two = timezone(timedelta(hours=2))
    with transaction(engine) as session:
        session.add(
            Patient(
                patient_ref="P1",
                created_at=datetime(2026, 3, 29, 3, 30, tzinfo=plus_two),
                created_by="n",
                station_id="s",
            )
        )
    with transaction(engine) as session:
        stored = session.exec(select(Patient)).scalars().one()  # type: ignore[call-overload]
    assert stored.created_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert stored.created_at.tzinfo is UTC


def test_naive_datetimes_are_refused_and_nothing_is_stored(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive"), transaction(engine) as session:
        session.add(
            Patient(
                patient_ref="P2",
                created_at=datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
                created_by="n",
                station_id="s",
            )
        )
    with transaction(engine) as session:
        assert session.exec(select(func.count()).select_from(Patient)).one()[0] == 0  # type: ignore[call-overload]


@pytest.mark.sqlite_only("SQLite's BEGIN IMMEDIATE: on PostgreSQL read-then-write needs a lock or a constraint")
def test_concurrent_read_then_write_loses_no_update(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE serialises writers: 4 threads x 40 'read max, insert max+1' give 160 distinct values."""
    engine = make_engine(f"sqlite:///{tmp_path}/race.db")
    counter = Table("counter", MetaData(), Column("seq", Integer, nullable=False))
    counter.metadata.create_all(engine)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(40):
                with transaction(engine) as session:
                    current = session.execute(select(func.coalesce(func.max(counter.c.seq), 0))).scalar_one()
                    session.execute(insert(counter).values(seq=current + 1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        values = [row[0] for row in connection.execute(select(counter.c.seq))]
    engine.dispose()
    assert errors == []
    assert sorted(values) == list(range(1, 161))


@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=45))]),
    )
)
def test_the_sqlite_datetime_binding_writes_what_sqlalchemy_writes_for_the_utc_value(moment: datetime) -> None:
    dialect = sqlite.dialect()
    fast = UTCDateTime().bind_processor(dialect)
    reference = sqlite.DATETIME().bind_processor(dialect)  # type: ignore[no-untyped-call]
    assert fast is not None
    assert reference is not None
    assert fast(moment) == reference(moment.astimezone(UTC))
    assert fast(None) is None


def test_the_sqlite_datetime_binding_refuses_naive_values_and_non_datetimes() -> None:
    fast = UTCDateTime().bind_processor(sqlite.dialect())
    assert fast is not None
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(TypeError, match="takes a datetime"):
        fast("2026-01-01 00:00:00")
