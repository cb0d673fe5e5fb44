"""Load: stations recording refills against one PostgreSQL for a while (``python -m bench.load``).

Each station is a client thread with pumps of its own: it posts one constant-flow refill per
pump (the body of :mod:`bench.api`), one after the other, as fast as the service answers, for
``--duration-s`` seconds (60 by default) at 1, 5 and 20 stations. The service runs as real
``pump-service serve`` processes over one durable throwaway PG 15, one per core by default (the
deployment of issue 13: several instances, one database; stations are spread over them). Each
level books into a clinic of its own, so every level starts from an empty calendar.

Afterwards the rows are counted: a refill stored twice for a pump, an acknowledged refill with
no row, a slot booked twice or a pump with two bookings is a *duplicate* (or *lost*); anything but
201 is an *error*. Figures: ``load_pg_c{N}.req_per_s``, ``.p50_ms``, ``.p99_ms``, ``.errors``,
``.duplicates``, ``.lost``, and ``.lock_wait_pct``: the share of sampled transactions that were
waiting for a lock (a clinic-wide lock shows as most of them).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, insert, text
from sqlmodel import Session, col, select

from bench import Result
from bench.api import ACTOR, REPO, SERVER_START_TIMEOUT_S, STATION, _free_port, _percentile, _prepare, _refill_body
from bench.sizes import sized
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.models import Patient, Pump, PumpState, Refill
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic
from pump_service.services.actor import acting_as
from pump_service.services.audit.pending import capture
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from schemas.clock import SystemClock
from schemas.pump import PumpFamily
from testbench.throwaway_postgres import PostgresUnavailableError, throwaway_postgres

__all__ = ["LoadRun", "count_rows", "drive_for", "fleet", "run", "servers"]

LEVELS = (1, 5, 20)
DEFAULT_DURATION_S = sized(60.0, 1.0)
SERVERS: int | None = sized(None, 1)  # None: one per core; a smoke run saves the second start-up
# Pumps given per second of a level's run: more than this service refills on a small machine, so
# a level ends by its clock; one that runs out of pumps ends early and its rate is still right.
PUMPS_PER_SECOND = 150
REQUEST_TIMEOUT_S = 60.0
LOCK_SAMPLE_S = 0.02
_clock = SystemClock()


@dataclass(slots=True)
class LoadRun:
    """What the stations saw in one run: every latency, the non-201 answers and the acknowledged pumps."""

    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)

    @property
    def req_per_s(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class RowCount:
    """What the database holds afterwards for one run's pumps."""

    duplicates: int  # refill rows beyond one per pump, slots booked twice, pumps booked twice
    lost: int  # acknowledged refills with no row


def fleet(database_url: str, clinic_code: str, count: int) -> list[str]:
    """``count`` constant-flow pumps (registered 60 days ago, as ``register_pump`` leaves them) in a new clinic.

    Inserted in bulk (one audit entry per table), so a minute's worth of pumps takes seconds.
    """
    engine = make_engine(database_url)
    now = _clock.now()
    registered = now - timedelta(days=60)
    settings = Settings(
        database_url=database_url,
        station_id=STATION,
        clinic_id=clinic_code,
        clinic_capacity_per_day=480,  # every 1-minute slot of an 8-hour day
        clinic_slot_minutes=1,
    )
    who = {"created_at": registered, "created_by": ACTOR.user, "station_id": STATION}
    stamps = {"updated_at": registered, "updated_by": ACTOR.user, **who}
    serials = [f"{clinic_code.upper()}-{i:06d}" for i in range(count)]
    with acting_as(ACTOR), transaction(engine) as session:
        clinic_id = default_clinic(session, settings, now=now).id
        patient_ids = session.execute(
            insert(Patient).returning(col(Patient.id), sort_by_parameter_order=True),
            [{"patient_ref": f"P{serial}", **stamps} for serial in serials],
        ).scalars()
        pump_rows = [
            {
                "serial": serial,
                "model_id": "hai-30",
                "family": PumpFamily.CONSTANT_FLOW,
                "route": "intra_arterial",
                "patient_id": patient_id,
                "nominal_rate_ml_per_day": 1.0,
                "planning_rate_ml_per_day": 1.0,
                "alarms": [],
                "clinic_id": clinic_id,
                "state": PumpState.ACTIVE,
                "log_epoch": 0,
                "version": 1,
                **stamps,
            }
            for serial, patient_id in zip(serials, patient_ids, strict=True)
        ]
        session.execute(insert(Pump), pump_rows)
        for table in ("patient", "pump"):
            capture(session, action="insert", entity=table, entity_id=None, before=None, after={"rows": count})
    engine.dispose()
    return serials


def _wait_healthy(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pump-service serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("pump-service serve did not answer /health in time")
        time.sleep(0.1)


@contextmanager
def servers(database_url: str, count: int, *, scheduler: bool = False) -> Iterator[list[str]]:
    """``count`` real ``pump-service serve`` processes over ``database_url``; their base URLs.

    Started one after the other (each migrates first, a no-op on a migrated database).
    """
    environment = {**os.environ, "PUMP_DATABASE_URL": database_url, "PUMP_STATION_ID": STATION}
    executable = str(Path(sys.executable).with_name("pump-service"))
    processes: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for _ in range(count):
            port = _free_port()
            command = [executable, "serve", "--port", str(port), "--scheduler" if scheduler else "--no-scheduler"]
            process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL)  # noqa: S603
            processes.append(process)
            bases.append(f"http://127.0.0.1:{port}")
            _wait_healthy(process, bases[-1])
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def drive_for(bases: Sequence[str], token: str, serials: Sequence[str], clients: int, duration_s: float) -> LoadRun:
    """``clients`` stations (spread over ``bases``), each refilling its share of ``serials`` until the time is up."""
    run = LoadRun()
    mutex = threading.Lock()
    start = threading.Barrier(clients + 1)
    performed_at = _clock.now() - timedelta(minutes=5)
    deadline = [0.0]

    def station(index: int) -> None:
        mine = serials[index::clients]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        acknowledged: list[str] = []
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=bases[index % len(bases)], headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
            start.wait()
            for serial in mine:
                if time.perf_counter() >= deadline[0]:
                    break
                began = time.perf_counter()
                try:
                    status = http.post(f"/pumps/{serial}/refills", json=_refill_body(serial, performed_at)).status_code
                except httpx.HTTPError:
                    status = 0  # no answer at all
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    acknowledged.append(serial)
        with mutex:
            run.latencies_s.extend(latencies)
            run.acknowledged.extend(acknowledged)
            for status, times in statuses.items():
                run.statuses[status] = run.statuses.get(status, 0) + times

    threads = [threading.Thread(target=station, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + duration_s
    start.wait()
    for thread in threads:
        thread.join()
    run.wall_s = time.perf_counter() - began
    run.errors = sum(times for status, times in run.statuses.items() if status != 201)
    return run


def count_rows(database_url: str, clinic_code: str, acknowledged: Sequence[str]) -> RowCount:
    """Count the run's rows: refills per pump, bookings per slot and per pump, acknowledged refills present."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        clinic_id = session.exec(select(Clinic.id).where(Clinic.clinic_id == clinic_code)).one()
        pumps = select(Pump.id).where(Pump.clinic_id == clinic_id)
        refill_pump = col(Refill.pump_id)
        per_pump = session.exec(
            select(refill_pump, func.count()).where(refill_pump.in_(pumps)).group_by(refill_pump)
        ).all()
        booked = (Appointment.clinic_id == clinic_id, Appointment.status == AppointmentStatus.BOOKED)
        day, index = col(Appointment.local_day), col(Appointment.slot_index)
        slots = session.exec(
            select(day, index, func.count()).where(*booked).group_by(day, index).having(func.count() > 1)
        ).all()
        booked_pump = col(Appointment.pump_id)
        twice = session.exec(
            select(booked_pump, func.count()).where(*booked).group_by(booked_pump).having(func.count() > 1)
        ).all()
        stored = set(
            session.exec(select(Pump.serial).where(col(Pump.id).in_(select(refill_pump)), Pump.clinic_id == clinic_id))
        )
    engine.dispose()
    extra = [n - 1 for _pump, n in per_pump] + [n - 1 for _day, _index, n in slots] + [n - 1 for _p, n in twice]
    return RowCount(duplicates=sum(extra), lost=len(set(acknowledged) - stored))


class LockWaits:
    """Samples ``pg_stat_activity`` while a level runs: how often a transaction under way waits for a lock.

    A machine-independent sign of serialisation: on a loaded machine the rates follow the CPU
    share the bench gets, while the share of transactions parked on a lock says whether they queue.
    """

    def __init__(self, database_url: str) -> None:
        self._engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
        self._database = self._engine.url.database
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)
        self.in_transaction = 0
        self.waiting = 0

    def _sample(self) -> None:
        query = text(
            "SELECT count(*) FILTER (WHERE state IN ('active', 'idle in transaction')),"
            " count(*) FILTER (WHERE wait_event_type = 'Lock')"
            " FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
        )
        with self._engine.connect() as connection:
            while not self._stop.wait(LOCK_SAMPLE_S):
                busy, waiting = connection.execute(query, {"db": self._database}).one()
                self.in_transaction += int(busy)
                self.waiting += int(waiting)

    def __enter__(self) -> "LockWaits":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._engine.dispose()

    @property
    def percent(self) -> float:
        return 100.0 * self.waiting / self.in_transaction if self.in_transaction else 0.0


def level_results(prefix: str, run: LoadRun, rows: RowCount, waits: LockWaits) -> list[Result]:
    latencies = run.latencies_s or [0.0]
    return [
        Result(f"{prefix}.lock_wait_pct", waits.percent, "% of transactions", False),
        Result(f"{prefix}.req_per_s", run.req_per_s, "req/s", True),
        Result(f"{prefix}.p50_ms", 1000 * statistics.median(latencies), "ms", False),
        Result(f"{prefix}.p99_ms", 1000 * _percentile(latencies, 0.99), "ms", False),
        Result(f"{prefix}.errors", float(run.errors), "requests", False),
        Result(f"{prefix}.duplicates", float(rows.duplicates), "rows", False),
        Result(f"{prefix}.lost", float(rows.lost), "refills", False),
    ]


def load_figures(
    database_url: str, *, duration_s: float, levels: Sequence[int] = LEVELS, server_count: int | None = SERVERS
) -> list[Result]:
    """Every level against one migrated database; the figures named ``load_pg_c{N}.*``."""
    token, _ = _prepare(database_url, 0)
    count = server_count or os.cpu_count() or 1
    fleets = {
        clients: fleet(database_url, f"load-c{clients}", math.ceil(duration_s * PUMPS_PER_SECOND)) for clients in levels
    }
    warm = fleet(database_url, "load-warm", 4 * count)
    results: list[Result] = [Result("load_pg.servers", float(count), "processes", True)]
    with servers(database_url, count) as bases:
        drive_for(bases, token, warm, len(bases), duration_s=60.0)  # each server's first requests load its code
        for clients in levels:
            with LockWaits(database_url) as waits:
                run = drive_for(bases, token, fleets[clients], clients, duration_s)
            rows = count_rows(database_url, f"load-c{clients}", run.acknowledged)
            print(f"load: {clients} stations, statuses {dict(sorted(run.statuses.items()))}", flush=True)
            results += level_results(f"load_pg_c{clients}", run, rows, waits)
    return results


@contextmanager
def bench_database(name: str) -> Iterator[str]:
    """A fresh database on a durable throwaway PostgreSQL (its figures compare with SQLite's FULL sync)."""
    with throwaway_postgres(durable=True) as base:
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        yield f"{base}/{name}"


def run(duration_s: float = DEFAULT_DURATION_S) -> list[Result]:
    """The load figures (``make bench``); none where PostgreSQL cannot start, with the reason printed."""
    from pump_service.persistence.migrate import upgrade

    try:
        with bench_database("bench_load") as url:
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            return load_figures(url, duration_s=duration_s)
    except PostgresUnavailableError as exc:
        print(f"load: PostgreSQL figures skipped: {exc}")
        return []


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--duration-s", type=float, default=DEFAULT_DURATION_S, help="each level's run")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    results = run(args.duration_s)
    for result in results:
        print(f"{result.name:<40} {result.value:>14,.1f} {result.unit}")
    if args.output is not None:
        args.output.write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
