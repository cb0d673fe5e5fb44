"""PostgreSQL restarted under load: clear 503 problems while it is down, then every refill exactly once.

Stations keep recording refills through a real ``pump-service serve`` while the database is
stopped (``pg_ctl stop -m fast``, which also cuts the transactions under way) and started again.
Every answer is a 201/200 or a 503 ``application/problem+json`` with Retry-After, never a 500 or
plain text; a station retries a 503 with the same request (same idempotency key) until it is
acknowledged. Afterwards each pump has exactly one refill, its charges and one booking; the
pool reconnects by itself, and the scheduler's tick fails clearly while the database is down and
works at the next tick after it.
"""

import os
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func
from sqlmodel import Session, col, select

from bench.api import _prepare, _refill_body
from bench.load import fleet, servers
from pump_service.api.app import create_app
from pump_service.errors import StorageUnavailableError
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import make_engine
from pump_service.persistence.models import Refill
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus
from pump_service.scheduler import RefillScheduler
from pump_service.settings import Settings
from schemas.clock import SystemClock
from testbench.throwaway_postgres import PG_BIN
from tests.reliability.leader_drill import admin_dsn, fresh_database

pytestmark = pytest.mark.postgres

STATIONS = 4
PUMPS_PER_STATION = 12
OUTAGE_S = 2.0
RETRY_PAUSE_S = 0.2
DRILL_TIMEOUT_S = 120.0
_wall = SystemClock()  # a real outage, so real time


class PostgresControl:
    """Stop and start a running throwaway server as its OS user, with the options it was started with."""

    def __init__(self, admin_dsn: str) -> None:
        with psycopg.connect(admin_dsn, autocommit=True) as connection:
            show = {name: str(connection.execute(f"SHOW {name}").fetchone()[0]) for name in _SETTINGS}  # type: ignore[index]
        self.data = show["data_directory"]
        sockets = show["unix_socket_directories"]
        self.options = f"-h 127.0.0.1 -p {show['port']} -k {sockets}" + (" -F" if show["fsync"] == "off" else "")
        self.log = str(Path(self.data).parent / "restart.log")

    def _pg_ctl(self, *args: str) -> None:
        command = [str(PG_BIN / "pg_ctl"), "-D", self.data, *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self._pg_ctl("-l", self.log, "-w", "-o", self.options, "start")


_SETTINGS = ("data_directory", "port", "unix_socket_directories", "fsync")


@dataclass
class Drill:
    """What the stations saw: answers by status, the 503s, and every answer that broke the promise."""

    statuses: Counter[int] = field(default_factory=Counter)
    unavailable: int = 0
    broken: list[str] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    mutex: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def drill_url(restartable_postgres: str) -> Iterator[str]:
    with fresh_database(restartable_postgres) as (url, engine):
        engine.dispose()  # the drill makes its own; this one would hold connections across the restart
        yield url


def _station(base: str, token: str, serials: list[str], drill: Drill) -> None:
    """Record each pump's refill, retrying a 503 with the same request until it is acknowledged."""
    performed_at = _wall.now() - timedelta(minutes=5)
    deadline = _wall.monotonic() + DRILL_TIMEOUT_S
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as http:
        for serial in serials:
            while _wall.monotonic() < deadline:
                try:
                    answer = http.post(f"/pumps/{serial}/refills", json=_refill_body(serial, performed_at))
                except httpx.HTTPError as exc:
                    with drill.mutex:
                        drill.broken.append(f"{serial}: no answer ({type(exc).__name__})")
                    break
                with drill.mutex:
                    drill.statuses[answer.status_code] += 1
                if answer.status_code in (200, 201):
                    with drill.mutex:
                        drill.acknowledged.add(serial)
                    break
                problem = answer.headers.get("content-type", "").startswith("application/problem+json")
                if answer.status_code == 503 and problem and int(answer.headers.get("retry-after", "0")) > 0:
                    with drill.mutex:
                        drill.unavailable += 1
                    _wall.sleep(RETRY_PAUSE_S)  # Retry-After is the advice for people; a drill retries sooner
                    continue
                with drill.mutex:
                    drill.broken.append(f"{serial}: {answer.status_code} {answer.headers.get('content-type')}")
                break


def _restart_when_busy(control: PostgresControl, drill: Drill, ticker: RefillScheduler, ticks: list[str]) -> None:
    """Once some refills are in, stop the database for a while (a tick then must fail clearly), start it."""
    while len(drill.acknowledged) < STATIONS * 2:
        _wall.sleep(0.05)
    control.stop()
    try:
        ticker.tick()
        ticks.append("ran while the database was down")
    except StorageUnavailableError:
        ticks.append("unavailable")
    _wall.sleep(OUTAGE_S)
    control.start()


def test_postgres_restarted_under_load_gives_503_problems_then_every_refill_exactly_once(
    restartable_postgres: str, drill_url: str
) -> None:
    token, _ = _prepare(drill_url, 0)
    serials = fleet(drill_url, "drill", STATIONS * PUMPS_PER_STATION)
    control = PostgresControl(admin_dsn(restartable_postgres))
    engine = make_engine(drill_url)
    ticker = RefillScheduler(engine, Settings(database_url=drill_url, station_id="bench-api"), SystemClock())
    ticker.tick()  # the pool holds a connection from before the restart
    drill, ticks = Drill(), list[str]()
    with servers(drill_url, 1) as (base,):
        threads = [
            threading.Thread(target=_station, args=(base, token, serials[i::STATIONS], drill)) for i in range(STATIONS)
        ]
        restart = threading.Thread(target=_restart_when_busy, args=(control, drill, ticker, ticks))
        for thread in [*threads, restart]:
            thread.start()
        for thread in [*threads, restart]:
            thread.join()
        health = httpx.get(f"{base}/health", timeout=10.0)
    assert drill.broken == [], f"answers by status: {dict(drill.statuses)}"
    assert drill.unavailable > 0, "no request met the outage: the drill proved nothing"
    assert drill.acknowledged == set(serials)
    assert ticks == ["unavailable"]
    ticker.tick()  # the next tick after the restart works on the same pool
    assert health.status_code == 200
    _assert_each_refill_once_with_its_charges(engine, len(serials))
    engine.dispose()


def _assert_each_refill_once_with_its_charges(engine: Engine, pumps: int) -> None:
    with Session(engine) as session:
        per_pump = session.exec(select(col(Refill.pump_id), func.count()).group_by(col(Refill.pump_id))).all()
        refill_ids = set(session.exec(select(col(Refill.id))).all())
        charged = set(session.exec(select(col(ChargeEventRow.refill_id))).all())
        booked = session.exec(
            select(col(Appointment.pump_id)).where(Appointment.status == AppointmentStatus.BOOKED)
        ).all()
    assert len(per_pump) == pumps  # nothing lost
    assert {n for _pump, n in per_pump} == {1}  # nothing twice
    assert charged == refill_ids  # every refill has its charges, and no charge is without its refill
    assert sorted(Counter(booked).values()) == [1] * pumps  # one booking per pump


def test_every_pooled_connection_busy_is_a_503_problem_and_the_next_request_succeeds(drill_url: str) -> None:
    token, _ = _prepare(drill_url, 0)
    engine = create_engine(drill_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app = create_app(Settings(database_url=drill_url, station_id="bench-api"), engine=engine)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        with engine.connect():  # the pool's only connection is taken
            busy = client.get("/pumps")
        assert busy.status_code == 503
        assert busy.headers["content-type"].startswith("application/problem+json")
        assert int(busy.headers["retry-after"]) > 0
        assert busy.json()["type"] == "urn:pump-service:problem:storage-unavailable"
        assert client.get("/pumps").status_code == 200
    engine.dispose()
