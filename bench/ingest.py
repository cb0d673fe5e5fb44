"""Pump-log ingest: pages stored through ``store_log_entries`` against raw ``sqlite3.executemany``.

Both write the same rows into the same ``device_log`` table of the same database file, a page per
transaction, in the same run (the machine is noisy: the ratio is the figure to compare).
"""

import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from sqlalchemy import Engine, make_url
from sqlmodel import select

from bench import Result
from bench.service import ACTOR, T0, setup_station
from bench.sizes import sized
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, Pump
from pump_service.services.actor import acting_as
from pump_service.services.visits.interrogation import store_log_entries
from schemas.device_log import DeviceLogEntry, LogEntryType

ENTRIES = sized(4096, 300)  # a smoke run still stores a whole page and a part of one
PAGE = 256  # entries per LOG_READ page of the programmer protocol's downloads
REPEATS = sized(3, 1)
_COLUMNS = "pump_id, source, log_epoch, log_index, entry_type, device_time_at, recorded_at, data, actor, station_id"


def _entries() -> list[DeviceLogEntry]:
    return [
        DeviceLogEntry(
            index=i,
            device_time_at=T0 + timedelta(minutes=i),
            type=LogEntryType.BOLUS,
            data={"volume_ml": 0.1, "source": "ptm"},
        )
        for i in range(ENTRIES)
    ]


def _pump_ids(engine: Engine) -> list[int]:
    with transaction(engine) as session:
        return [p.id for p in session.exec(select(Pump).order_by(Pump.serial)).all() if p.id is not None]


def _service(engine: Engine, pump_id: int, entries: list[DeviceLogEntry]) -> int:
    with acting_as(ACTOR):
        for first in range(0, len(entries), PAGE):
            with transaction(engine) as session:
                store_log_entries(session, pump_id, entries[first : first + PAGE], actor=ACTOR, now=T0)
    return len(entries)


def _raw(database: str, pump_id: int, entries: list[DeviceLogEntry]) -> int:
    """The minimal reference: the same rows by ``executemany``, a page per transaction, duplicates ignored."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA synchronous=FULL")  # as the service's engine
    placeholders = ", ".join("?" * len(_COLUMNS.split(", ")))
    insert = f"INSERT OR IGNORE INTO device_log ({_COLUMNS}) VALUES ({placeholders})"  # noqa: S608 - constants
    recorded = T0.isoformat(sep=" ")
    for first in range(0, len(entries), PAGE):
        rows = [
            (
                pump_id,
                "pump",
                0,
                e.index,
                e.type.value,
                e.device_time_at.isoformat(sep=" "),
                recorded,
                json.dumps(e.data),
                ACTOR.user,
                ACTOR.station_id,
            )
            for e in entries[first : first + PAGE]
        ]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, rows)
        connection.execute("COMMIT")
    connection.close()
    return len(entries)


def _rate(work: Callable[[], int]) -> float:
    started = time.perf_counter()
    done = work()
    return done / (time.perf_counter() - started)


def run() -> list[Result]:
    entries = _entries()
    with tempfile.TemporaryDirectory() as tmp:
        _settings, engine = setup_station(tmp, 2 * REPEATS, "programmable-20")
        database = str(make_url(str(engine.url)).database)
        pumps = _pump_ids(engine)
        service = raw = 0.0
        for repeat in range(REPEATS):  # interleaved, best of each: both see the same machine
            service = max(service, _rate(partial(_service, engine, pumps[2 * repeat], entries)))
            raw = max(raw, _rate(partial(_raw, database, pumps[2 * repeat + 1], entries)))
        with transaction(engine) as session:
            stored = len(session.exec(select(DeviceLogRecord.id).where(DeviceLogRecord.source == "pump")).all())
        engine.dispose()
    if stored != 2 * REPEATS * ENTRIES:  # a bench self-check: both sides stored every row
        raise RuntimeError(f"expected {2 * REPEATS * ENTRIES} log rows, found {stored}")
    return [
        Result("ingest.rows_per_s", service, "rows/s", True),
        Result("ingest.raw_rows_per_s", raw, "rows/s", True),
        Result("ingest.ratio_vs_executemany", service / raw, "ratio", True),
    ]
