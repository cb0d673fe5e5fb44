"""Tick figures: the scheduler's tick at 1k / 10k / 100k pumps with 10 items due, against raw SQL.

Each database holds one clinic, one patient and one booked appointment per pump (spread over the
next 90 days), and the 7-day reminders already recorded for the appointments of the coming week.
Exactly 10 appointments have their 1-day reminder due at the tick moment. The rows are written
with Core ``executemany`` on a migrated schema (not through the use cases: 100k refills would take
an hour), with ``next_decision_at`` as the service keeps it.

Each measured tick runs on a fresh copy of the built database, so every run has the same real
work; ``.s`` is the best of the runs, ``.ratio_vs_sql`` the median of the runs' service/reference
ratios. The reference does the same decisions on another copy with raw ``sqlite3``: the indexed
candidate query, the key check, the notification inserts, the due-moment updates, one commit,
with the service's pragmas (WAL, synchronous=FULL). During further ticks at 100k (not timed: the
writer competes for the interpreter), another thread keeps writing a pump row through the
service's own transactions; the writes that failed are counted.

Run alone: ``.venv/bin/python -m bench.tick`` (or ``python -m bench --only bench.tick`` once the
suite is listed).
"""

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, update
from sqlalchemy.exc import DBAPIError

from bench import Result
from bench.sizes import sized
from pump_service.errors import StorageUnavailableError
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Patient, Pump
from pump_service.persistence.schedule_models import Appointment, Clinic, Notification
from pump_service.scheduler import RefillScheduler
from pump_service.services.scheduling.decision_due import decision_moments, next_decision_after
from pump_service.settings import Settings
from simulators.clock import ManualClock

__all__ = ["run"]

TICK_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# (pumps, figure prefix): a smoke run keeps the prefixes, so its results.json has the same names.
SIZES = sized(
    ((1_000, "tick_1k"), (10_000, "tick_10k"), (100_000, "tick_100k")),
    ((30, "tick_1k"), (60, "tick_10k"), (100, "tick_100k")),
)
DUE = 10
REPEATS = sized(9, 1)
REMINDER_DAYS = (7, 1)
SLOT = timedelta(minutes=30)
_BATCH = 20_000


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _starts(pumps: int) -> list[datetime]:
    """Appointment starts: the first DUE within the next day, the rest from 1 to 90 days ahead."""
    soon = [TICK_AT + timedelta(hours=2 + i) for i in range(DUE)]
    spread = [TICK_AT + timedelta(days=1, hours=1) + timedelta(days=89) * i / pumps for i in range(pumps - DUE)]
    return soon + spread


def _build(path: Path, pumps: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    stamp = {"created_at": TICK_AT - timedelta(days=30), "created_by": "bench", "station_id": "bench"}
    grace = timedelta(hours=2)
    with engine.begin() as connection:
        connection.execute(
            _table(Clinic).insert(),
            {
                "id": 1,
                "clinic_id": "main",
                "name": "Main",
                "timezone": "UTC",
                "working_days": [0, 1, 2, 3, 4, 5, 6],
                "opens_at": "08:00",
                "closes_at": "20:00",
                "slot_minutes": 30,
                "capacity_per_day": 2000,
                "reminder_days": list(REMINDER_DAYS),
                **stamp,
                "updated_at": stamp["created_at"],
                "updated_by": "bench",
            },
        )
        for start in range(0, pumps, _BATCH):
            ids = range(start + 1, min(start + _BATCH, pumps) + 1)
            connection.execute(_table(Patient).insert(), [{"id": i, "patient_ref": f"B-{i:06d}", **stamp} for i in ids])
            connection.execute(
                _table(Pump).insert(),
                [
                    {
                        "id": i,
                        "serial": f"T-{i:06d}",
                        "model_id": "hai-30",
                        "family": "constant_flow",
                        "route": "intra_arterial",
                        "patient_id": i,
                        "clinic_id": 1,
                        "alarms": [],
                        "state": "active",
                        "log_epoch": 0,
                        "version": 1,
                        **stamp,
                        "updated_at": stamp["created_at"],
                        "updated_by": "bench",
                    }
                    for i in ids
                ],
            )
        appointments: list[dict[str, Any]] = []
        notifications: list[dict[str, Any]] = []
        for i, starts_at in enumerate(_starts(pumps), start=1):
            taken: set[str] = set()
            if starts_at - timedelta(days=7) <= TICK_AT:  # the week's 7-day reminders went out already
                key = f"reminder:{i}:7d"
                taken.add(key)
                notifications.append(
                    {
                        "key": key,
                        "kind": "reminder",
                        "level": "info",
                        "pump_id": i,
                        "appointment_id": i,
                        "trigger_at": starts_at - timedelta(days=7),
                        "created_at": starts_at - timedelta(days=7),
                        "status": "open",
                        "message": f"pump T-{i:06d}: refill appointment (reminder 7 d before)",
                        "data": {},
                    }
                )
            moments = decision_moments(
                i, starts_at=starts_at, ends_at=starts_at + SLOT, reminder_days=REMINDER_DAYS, grace=grace
            )
            appointments.append(
                {
                    "id": i,
                    "pump_id": i,
                    "clinic_id": 1,
                    "local_day": starts_at.date(),
                    "slot_index": 0,
                    "starts_at": starts_at,
                    "ends_at": starts_at + SLOT,
                    "target_at": starts_at,
                    "due_reason": "volume",
                    "on_time": True,
                    "status": "booked",
                    # What the tick stored when it last looked, just after the 7-day reminders.
                    "next_decision_at": next_decision_after(moments, taken, TICK_AT - timedelta(days=1)),
                    **stamp,
                    "updated_at": stamp["created_at"],
                    "updated_by": "bench",
                }
            )
        for start in range(0, len(appointments), _BATCH):
            connection.execute(_table(Appointment).insert(), appointments[start : start + _BATCH])
        if notifications:
            connection.execute(_table(Notification).insert(), notifications)
    engine.dispose()
    with sqlite3.connect(path) as raw:  # fold the WAL into the file, so a copy is one file
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()


class _Writer:
    """Another station writing a pump row through the service's transactions while the ticks run."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._stop = threading.Event()
        self.writes = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "_Writer":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        pumps = _table(Pump)
        while not self._stop.is_set():
            try:
                with transaction(self._engine) as session:
                    session.execute(update(pumps).where(pumps.c.id == 1).values(version=pumps.c.version + 1))
                self.writes += 1
            except (StorageUnavailableError, DBAPIError):
                self.failures += 1


def _fresh_copy(built: Path, path: Path) -> None:
    """A copy of ``built`` at ``path``, written out to disk before anything is timed.

    Left dirty in the page cache, the copy (tens of MB at 100k pumps) would be flushed by the
    timed tick's first fsync on filesystems that commit a journal for all files at once, and the
    tick would be charged for writing the copy.
    """
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(built, path)
    os.sync()


def _service_tick(engine: Engine, built: Path, settings: Settings) -> tuple[float, int]:
    """Seconds of one service tick on a fresh copy of ``built`` and how many decisions it recorded.

    One engine serves every run (its connections closed and the file replaced in between), so its
    statements stay compiled as in a long-running service.
    """
    engine.dispose()
    _fresh_copy(built, Path(str(engine.url.database)))
    scheduler = RefillScheduler(engine, settings, ManualClock(TICK_AT))
    with engine.connect():  # open the pooled connection outside the timing
        pass
    started = time.perf_counter()
    report = scheduler.tick()
    return time.perf_counter() - started, report.total


def _failed_concurrent_writes(path: Path, settings: Settings) -> tuple[int, int]:
    """A tick on ``path`` while another thread keeps writing: (writes that failed, writes that succeeded).

    Not timed: the writing thread competes for the interpreter, which would inflate the tick's time.
    """
    engine = make_engine(f"sqlite:///{path}")
    writer_engine = make_engine(f"sqlite:///{path}")
    try:
        scheduler = RefillScheduler(engine, settings, ManualClock(TICK_AT))
        with _Writer(writer_engine) as writer:
            report = scheduler.tick()
        if report.total != DUE:
            raise RuntimeError(f"the concurrent tick decided {report.total}, not {DUE}")
        return writer.failures, writer.writes
    finally:
        engine.dispose()
        writer_engine.dispose()


def _stored(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _reference_audit(connection: sqlite3.Connection, now: str, keys: list[str], rows: list[Any]) -> None:
    """The audit trail the service's tick also writes: one chained entry per notification, one for the updates."""
    marks = ",".join("?" * len(keys))
    inserted = connection.execute(f"SELECT * FROM notification WHERE key IN ({marks})", keys)  # noqa: S608
    names = [column[0] for column in inserted.description]
    changes: list[tuple[str, str, str | None, Any, Any]] = [
        ("insert", "notification", str(r[0]), None, dict(zip(names, r, strict=True))) for r in inserted
    ]
    moved = {str(row[0]): row[2] for row in rows}
    changes.append(("update", "appointment", None, {"next_decision_at": moved}, {"next_decision_at": moved}))
    seq, previous = connection.execute("SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1").fetchone()
    entries = []
    for action, entity, entity_id, before, after in changes:
        seq += 1
        record = [seq, now, "system", None, "bench", action, entity, entity_id, before, after, None, previous]
        previous = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
        entries.append((*record[:8], json.dumps(before), json.dumps(after), None, record[11], previous))
    connection.executemany(
        "INSERT INTO audit_entry (seq, at, actor_user, actor_role, station_id, action, entity, entity_id, before,"
        " after, note, prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        entries,
    )
    connection.execute("UPDATE audit_chain_head SET last_seq = ?, last_hash = ? WHERE id = 1", (seq, previous))


def _reference_tick(path: Path) -> tuple[float, int]:
    """The same decisions by indexed raw SQL: seconds and how many notifications it inserted."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=5000"):
            connection.execute(f"PRAGMA {pragma}")
        now = _stored(TICK_AT)
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        rows = connection.execute(
            "SELECT a.id, a.pump_id, a.starts_at, p.serial FROM appointment a JOIN pump p ON p.id = a.pump_id"
            " WHERE a.status = 'booked' AND a.next_decision_at <= ?",
            (now,),
        ).fetchall()
        wanted = [f"reminder:{row[0]}:{days}d" for row in rows for days in REMINDER_DAYS]
        marks = ",".join("?" * len(wanted))
        taken = {key for (key,) in connection.execute(f"SELECT key FROM notification WHERE key IN ({marks})", wanted)}  # noqa: S608
        inserts = []
        for appointment_id, pump_id, starts_at, serial in rows:
            key = f"reminder:{appointment_id}:1d"
            if key not in taken:
                message = f"pump {serial}: refill appointment {starts_at[:16]} (reminder 1 d before)"
                inserts.append((key, pump_id, appointment_id, now, now, message))
        connection.executemany(
            "INSERT INTO notification (key, kind, level, pump_id, appointment_id, trigger_at, created_at, status,"
            " message, data) VALUES (?, 'reminder', 'info', ?, ?, ?, ?, 'open', ?, '{}')",
            inserts,
        )
        connection.executemany(
            "UPDATE appointment SET next_decision_at = ? WHERE id = ?",
            [(row[2], row[0]) for row in rows],  # next: the overdue check, after the visit
        )
        _reference_audit(connection, now, [key for key, *_ in inserts], rows)
        connection.execute(
            "SELECT p.id FROM pump p WHERE p.battery_state IN ('ERI', 'EOS') AND NOT EXISTS"
            " (SELECT 1 FROM notification n WHERE n.key = 'battery:' || p.id || ':' || p.battery_state)"
        ).fetchall()
        connection.execute("COMMIT")
        return time.perf_counter() - started, len(inserts)
    finally:
        connection.close()


def _figures(pumps: int, name: str, tmp: Path) -> list[Result]:
    built = tmp / f"{name}.db"
    _build(built, pumps)
    settings = Settings(database_url=f"sqlite:///{built}", station_id="bench", reminder_days=list(REMINDER_DAYS))
    service: list[float] = []
    reference: list[float] = []
    engine = make_engine(f"sqlite:///{tmp / f'{name}-service.db'}")
    _service_tick(engine, built, settings)  # warm-up: compile the statements once
    for run in range(REPEATS):
        seconds, decided = _service_tick(engine, built, settings)
        if decided != DUE:
            raise RuntimeError(f"{name}: the service decided {decided}, not {DUE}")
        service.append(seconds)
        copy = tmp / f"{name}-reference-{run}.db"
        _fresh_copy(built, copy)
        seconds, decided = _reference_tick(copy)
        if decided != DUE:
            raise RuntimeError(f"{name}: the reference decided {decided}, not {DUE}")
        reference.append(seconds)
    engine.dispose()
    # The ratio pairs each service tick with the reference tick run right after it and takes the
    # median: one lucky (or unlucky) fsync on a shared disk moves a ratio of two minima by 10x.
    ratios = sorted(s / r for s, r in zip(service, reference, strict=True))
    results = [
        Result(f"{name}.s", min(service), "s", higher_is_better=False),
        Result(f"{name}.reference_s", min(reference), "s", higher_is_better=False),
        Result(f"{name}.ratio_vs_sql", ratios[len(ratios) // 2], "x", higher_is_better=False),
    ]
    if pumps == SIZES[-1][0]:
        failures = 0
        for run in range(REPEATS):
            copy = tmp / f"{name}-concurrent-{run}.db"
            shutil.copyfile(built, copy)
            failures += _failed_concurrent_writes(copy, settings)[0]
        results.append(Result(f"{name}.concurrent_write_failures", failures, "writes", higher_is_better=False))
    return results


def run() -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for pumps, name in SIZES:
            results.extend(_figures(pumps, name, Path(tmp)))
    return results


if __name__ == "__main__":
    for result in run():
        print(f"{result.name:<40} {result.value:>12.4f} {result.unit}")
