"""The bulk insert behind pump-log ingest, on both backends: batches, duplicates, refusals, nothing half-written."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from pump_service.persistence import bulk_insert
from pump_service.persistence.bulk_insert import insert_skipping_duplicates
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord
from pump_service.services.actor import Actor
from tests.ingest_support import registered_pump, statements_on
from tests.support import T0

_LOG = DeviceLogRecord.__table__  # type: ignore[attr-defined]
_COLUMNS = ("log_index", "entry_type", "device_time_at", "data")


def _insert(engine: Engine, pump_id: int, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    with transaction(engine) as session:
        return insert_skipping_duplicates(
            session.connection(),
            _LOG,
            shared={
                "pump_id": pump_id,
                "source": "pump",
                "log_epoch": 0,
                "recorded_at": T0,
                "actor": "a",
                "station_id": "s",
            },
            columns=_COLUMNS,
            rows=rows,
            key=("pump_id", "log_epoch", "log_index"),
            returning=("log_index",),
        )


def _row(index: int, at: datetime | None = None) -> tuple[Any, ...]:
    return (index, "BOLUS", at or T0 + timedelta(seconds=index), {"n": index})


def _stored(engine: Engine, pump_id: int) -> list[tuple[int, datetime, dict[str, Any]]]:
    with transaction(engine) as session:
        records = session.execute(
            select(DeviceLogRecord)
            .where(col(DeviceLogRecord.pump_id) == pump_id)
            .order_by(col(DeviceLogRecord.log_index))
        ).scalars()
        return [(r.log_index, r.device_time_at, r.data) for r in records if r.log_index is not None]


def test_rows_beyond_a_statement_go_in_batches_and_repeats_are_skipped(
    engine: Engine, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    pump_id = registered_pump(engine, actor)
    monkeypatch.setattr(bulk_insert, "MAX_ROWS_PER_STATEMENT", 40)
    _insert(engine, pump_id, [_row(i) for i in range(0, 30)])
    rows = [_row(i) for i in range(20, 120)] + [_row(50), _row(119)]  # 10 stored before, 2 repeated in the call
    with statements_on(engine) as seen:
        new = _insert(engine, pump_id, rows)
    assert sorted(index for (index,) in new) == list(range(30, 120))
    assert len([s for s in seen if s.startswith('INSERT INTO "device_log"')]) == 3  # 102 rows, 40 a statement
    stored = _stored(engine, pump_id)
    assert [index for index, _, _ in stored] == list(range(120))
    assert stored[77] == (77, T0 + timedelta(seconds=77), {"n": 77})  # read back aware UTC, JSON intact


def test_a_naive_datetime_is_refused_and_nothing_is_written(engine: Engine, actor: Actor) -> None:
    pump_id = registered_pump(engine, actor)
    naive = T0.replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive"):
        _insert(engine, pump_id, [_row(0), _row(1, at=naive)])
    assert _stored(engine, pump_id) == []


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        ([(0, "BOLUS", T0)], _COLUMNS, "one value for each"),
        ([_row(0)], ("log_index", "entry_type", "device_time_at", "colour"), "no column colour"),
    ],
)
def test_a_malformed_call_is_refused_before_anything_is_sent(
    engine: Engine, actor: Actor, rows: list[tuple[Any, ...]], columns: tuple[str, ...], message: str
) -> None:
    pump_id = registered_pump(engine, actor)
    with pytest.raises(ValueError, match=message), transaction(engine) as session:
        insert_skipping_duplicates(
            session.connection(),
            _LOG,
            shared={"pump_id": pump_id, "source": "pump", "recorded_at": T0, "actor": "a", "station_id": "s"},
            columns=columns,
            rows=rows,
            key=("pump_id", "log_epoch", "log_index"),
            returning=("id",),
        )
    with transaction(engine) as session:
        assert session.execute(select(func.count()).where(_LOG.c.source == "pump")).scalar_one() == 0
