"""A real ``pump-service serve`` in a subprocess, a station with pumps and a token, and what was stored.

The drills kill, starve and share this server; they check the database afterwards with plain
sqlite3 (or SQLAlchemy for PostgreSQL), not through the service they are testing.
"""

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.accounts import add_user, issue_token, register_station
from pump_service.services.actor import Actor, acting_as
from pump_service.services.contracts import PatientEntry, PumpRegistration
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from schemas.clock import SystemClock
from tests.support import fudr_refill

CLI = Path(sys.executable).with_name("pump-service")
STATION = "drill-station"
ACTOR = Actor(user="drill-setup", station_id=STATION)
START_TIMEOUT_S = 60.0
CLOCK = SystemClock()
# Every refill books the next appointment: room for all the drill's visits on one day.
SERVER_ENV = {"PUMP_CLINIC_CAPACITY_PER_DAY": "500", "PUMP_CLINIC_SLOT_MINUTES": "1", "PUMP_STATION_ID": STATION}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Station:
    database_url: str
    token: str
    serials: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def prepare_station(database_url: str, pumps: int) -> Station:
    """Migrate, add the drill station, a nurse with a token and ``pumps`` HAI pumps (real clock)."""
    settings = Settings(database_url=database_url, station_id=STATION)
    engine = make_engine(database_url)
    upgrade(engine)
    now = CLOCK.now()
    nurse = f"drill-nurse-{secrets.token_hex(3)}"
    serials = [f"DRILL-{i:04d}" for i in range(pumps)]
    with acting_as(ACTOR), transaction(engine) as session:
        clinic = default_clinic(session, settings, now=now)
        register_station(
            session,
            STATION,
            clinic_id=clinic.clinic_id,
            programmer_url="sim://",
            is_test_bench=True,
            label="drills",
            now=now,
            created_by=ACTOR.user,
        )
        add_user(session, nurse, role=Role.NURSE, password=secrets.token_urlsafe(16), now=now, created_by=ACTOR.user)
        for serial in serials:
            patient = f"PD-{serial}"
            register_patient(session, PatientEntry(patient_ref=patient, body_mass_kg=70.0), actor=ACTOR, now=now)
            entry = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": patient}
            register_pump(session, PumpRegistration.model_validate(entry), actor=ACTOR, now=now - timedelta(days=60))
    with transaction(engine) as session:
        token = issue_token(session, nurse, station_id=STATION, now=now, label="drill").token
    engine.dispose()
    return Station(database_url, token, serials)


def refill_body(key: str) -> dict[str, Any]:
    """A floxuridine refill five minutes ago; a retry must send this same body (the key's digest)."""
    return fudr_refill(CLOCK.now() - timedelta(minutes=5), idempotency_key=key)


class Server:
    """One ``pump-service serve`` process on a free port; its output kept in memory (``output()``)."""

    def __init__(
        self,
        database_url: str,
        *,
        scheduler: bool = True,
        env: Mapping[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
        defaults: Mapping[str, str] = SERVER_ENV,
        cwd: Path | None = None,
        name: str = "serve",
    ) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [str(CLI), "serve", "--database-url", database_url, "--port", str(self.port)]
        command += [] if scheduler else ["--no-scheduler"]
        environment = {**os.environ, **defaults, **(env or {})}
        # A pipe drained by a thread, not a file: a drill may forbid the server to write files (RLIMIT_FSIZE).
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=preexec,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, *, healthy: bool = True) -> None:
        """Until ``/health`` answers (200 if ``healthy``; any answer otherwise)."""
        deadline = CLOCK.monotonic() + START_TIMEOUT_S
        while CLOCK.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}: {self.output()[-2000:]}")
            try:
                status = httpx.get(f"{self.base}/health", timeout=2.0).status_code
                if status == 200 or not healthy:
                    return
            except httpx.TransportError:
                pass
            CLOCK.sleep(0.1)
        raise RuntimeError("serve did not answer /health in time")

    def health(self) -> dict[str, Any] | None:
        """The ``/health`` body, or None while the server does not answer."""
        try:
            response = httpx.get(f"{self.base}/health", timeout=2.0)
        except httpx.TransportError:
            return None
        body: dict[str, Any] = response.json()
        return body

    def leads(self) -> bool:
        """Whether this instance says it leads the scheduler."""
        health = self.health()
        return bool(health and health.get("leader"))

    def metric(self, name: str) -> float:
        """The value of one sample line of ``/metrics`` (0 if absent)."""
        text = httpx.get(f"{self.base}/metrics", timeout=2.0).text
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def kill9(self) -> None:
        """kill -9: no shutdown, no lock release, no rollback."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        """What the server printed so far."""
        return "".join(self._lines)


@contextmanager
def serving(database_url: str, **options: Any) -> Iterator[Server]:
    server = Server(database_url, **options)
    try:
        server.wait_ready(healthy=options.get("preexec") is None)
        yield server
    finally:
        server.stop()


def sqlite_rows(database: Path, query: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``query`` on the SQLite file, read by plain sqlite3 (not the service under test)."""
    with closing(sqlite3.connect(database, timeout=30)) as connection:
        return [tuple(row) for row in connection.execute(query, parameters)]


def is_problem(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("application/problem+json")
