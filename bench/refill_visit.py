"""Constant-flow refill visits through ``complete_visit`` against a raw replay of the rows one visit writes.

The reference is captured, not guessed: the INSERT and UPDATE statements of one visit and their
parameters are recorded with a ``before_cursor_execute`` listener, then replayed with ``sqlite3``
into the same database file, one visit per transaction. Each replayed INSERT gets its strings
suffixed and its integers offset, so the unique keys (idempotency key, visit key, charge ids,
audit sequence) stay unique; foreign keys are off for the replay (the reference is, if anything,
faster than the rows it stands for). The same visits run again with 10,000 future bookings in the
clinic calendar: a bounded slot search keeps that figure near the empty one.
"""

import sqlite3
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event, insert, make_url

from bench import Result
from bench.service import ACTOR, T0, fudr_entry, setup_station
from bench.sizes import sized
from pump_service.persistence.db import transaction
from pump_service.persistence.rows import clinic_id_of
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus
from pump_service.services.actor import acting_as
from pump_service.services.pumps.registry import get_pump
from pump_service.services.scheduling.clinics import calendar_of, default_clinic
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from simulators.clock import ManualClock

VISITS = sized(60, 3)
BOOKINGS = sized(10_000, 100)  # the figures keep the name refill_visit_10k_bookings
_Statement = tuple[str, Any, bool]  # SQL, parameters, executemany (insertmanyvalues batches are single rows)


def _visit(engine: Engine, settings: Settings, clock: ManualClock, index: int) -> None:
    entry = fudr_entry(T0, f"bench-refill-{index:06d}")
    complete_visit(engine, f"P-{index:05d}", entry, settings=settings, clock=clock, actor=ACTOR)


def _captured_writes(engine: Engine, settings: Settings, clock: ManualClock, index: int) -> list[_Statement]:
    """The INSERT/UPDATE statements (and parameters) one visit sends, in order."""
    seen: list[_Statement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            seen.append((statement, parameters, many))

    event.listen(engine, "before_cursor_execute", record)
    try:
        _visit(engine, settings, clock, index)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _shifted(parameters: Sequence[Any], replay: int) -> tuple[Any, ...]:
    def shift(value: Any) -> Any:
        if isinstance(value, str):
            return f"{value}~{replay}"
        if isinstance(value, int) and not isinstance(value, bool):
            return value + 1_000_000 * replay
        return value

    return tuple(shift(value) for value in parameters)


def _replay(database: str, writes: list[_Statement], visits: int) -> float:
    """Visits per second replaying ``writes`` with sqlite3, one transaction per visit."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA synchronous=FULL")  # as the service's engine
    connection.execute("PRAGMA foreign_keys=OFF")
    started = time.perf_counter()
    for replay in range(1, visits + 1):
        connection.execute("BEGIN IMMEDIATE")
        for statement, parameters, many in writes:
            inserting = statement.lstrip().upper().startswith("INSERT")
            if many and parameters and isinstance(parameters[0], (tuple, list)):
                rows = [_shifted(p, replay) if inserting else tuple(p) for p in parameters]
                connection.executemany(statement, rows).fetchall()
            else:
                values = _shifted(parameters, replay) if inserting else tuple(parameters)
                connection.execute(statement, values).fetchall()
        connection.execute("COMMIT")
    rate = visits / (time.perf_counter() - started)
    connection.close()
    return rate


def _book_calendar(engine: Engine, settings: Settings, count: int) -> None:
    """``count`` future bookings from tomorrow on, 40 a working day, for a pump outside the measured ones."""
    with transaction(engine) as session:
        clinic = default_clinic(session, settings, now=T0, actor=ACTOR)
        calendar = calendar_of(session, clinic)
        holder = get_pump(session, f"P-{VISITS + 1:05d}").id
        rows: list[dict[str, Any]] = []
        day = calendar.local_day(T0) + timedelta(days=1)
        while len(rows) < count:
            if calendar.is_working_day(day):
                for index in range(min(40, count - len(rows))):
                    rows.append(
                        {
                            "pump_id": holder,
                            "clinic_id": clinic_id_of(clinic),
                            "local_day": day,
                            "slot_index": index,
                            "starts_at": calendar.slot_start(day, index),
                            "ends_at": calendar.slot_end(day, index),
                            "target_at": T0 + timedelta(days=500),
                            "due_reason": "bench",
                            "on_time": True,
                            "status": AppointmentStatus.BOOKED,
                            "created_at": T0,
                            "created_by": ACTOR.user,
                            "station_id": ACTOR.station_id,
                            "updated_at": T0,
                            "updated_by": ACTOR.user,
                        }
                    )
            day += timedelta(days=1)
        session.execute(insert(Appointment), rows)


def _visits_per_s(bookings: int) -> tuple[float, float]:
    """(service visits/s, replay visits/s) on a fresh station with ``bookings`` future bookings."""
    with tempfile.TemporaryDirectory() as tmp:
        settings, engine = setup_station(tmp, VISITS + 2, "hai-30")
        if bookings:
            _book_calendar(engine, settings, bookings)
        clock = ManualClock(T0)
        with acting_as(ACTOR):
            writes = _captured_writes(engine, settings, clock, VISITS)  # the warm-up visit is the captured one
            started = time.perf_counter()
            for index in range(VISITS):
                _visit(engine, settings, clock, index)
            service = VISITS / (time.perf_counter() - started)
        replay = _replay(str(make_url(str(engine.url)).database), writes, VISITS)
        engine.dispose()
    return service, replay


def run() -> list[Result]:
    service, replay = _visits_per_s(0)
    busy, busy_replay = _visits_per_s(BOOKINGS)
    return [
        Result("refill_visit.per_s", service, "visits/s", True),
        Result("refill_visit.replay_per_s", replay, "visits/s", True),
        Result("refill_visit.ratio_vs_replay", service / replay, "ratio", True),
        Result("refill_visit_10k_bookings.per_s", busy, "visits/s", True),
        Result("refill_visit_10k_bookings.replay_per_s", busy_replay, "visits/s", True),
        Result("refill_visit_10k_bookings.ratio_vs_empty", busy / service, "ratio", True),
    ]
