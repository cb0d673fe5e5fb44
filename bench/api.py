"""API figures: POST refill under 1, 5 and 20 concurrent clients on SQLite and PostgreSQL, against the
framework's floor in the same run; and the peak memory of a server paging through 100,000 pumps.

A real uvicorn server runs in a subprocess (``bench.api_server``) over a migrated database; each
client is a thread with its own ``httpx.Client`` and its own pumps (one constant-flow floxuridine
refill per pump), so no two requests conflict and every error is the service's. PostgreSQL is a
throwaway PG 15 (``testbench.throwaway_postgres``); where it cannot start its figures are skipped
with the reason printed. Run alone: ``python -m bench.api --output /tmp/api.json``.
"""

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

from bench import Result
from bench.api_server import FLOOR_PATH
from bench.sizes import sized
from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Patient, Pump, PumpState
from pump_service.services.accounts import add_user, issue_token, register_station
from pump_service.services.actor import Actor, acting_as
from pump_service.services.audit.pending import capture
from pump_service.services.contracts import PatientEntry, PumpRegistration
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from schemas.clock import SystemClock
from schemas.pump import PumpFamily
from testbench.throwaway_postgres import PostgresUnavailableError, throwaway_postgres

__all__ = ["run"]

LEVELS = (1, 5, 20)
REQUESTS_PER_LEVEL = sized({1: 100, 5: 200, 20: 400}, {1: 2, 5: 5, 20: 20})
FLOOR_REQUESTS = sized(2000, 20)
BIG_FLEET = sized(100_000, 600)  # a smoke run still pages (LIST_PAGE); the figures keep their 100k names
FIRST_PAGE_SAMPLES = sized(5, 1)
LIST_PAGE = 500
STATION = "bench-api"
ACTOR = Actor(user="bench-setup", station_id=STATION)
SERVER_START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
REPO = Path(__file__).resolve().parent.parent
_clock = SystemClock()


@dataclass(frozen=True, slots=True)
class Load:
    """What clients saw: throughput, latency percentiles and the requests that did not succeed."""

    req_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    def results(self, prefix: str) -> list[Result]:
        return [
            Result(f"{prefix}.req_per_s", self.req_per_s, "req/s", True),
            Result(f"{prefix}.p50_ms", self.p50_ms, "ms", False),
            Result(f"{prefix}.p99_ms", self.p99_ms, "ms", False),
            Result(f"{prefix}.errors", float(self.errors), "requests", False),
        ]


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


def _settings(database_url: str) -> Settings:
    # capacity enough for every booking the refills make: the slot search is another brief's figure
    return Settings(database_url=database_url, station_id=STATION, clinic_capacity_per_day=400, clinic_slot_minutes=1)


def _prepare(database_url: str, pumps: int) -> tuple[str, list[str]]:
    """Migrate, add the bench station, a nurse with a token and ``pumps`` HAI pumps; (token, serials)."""
    settings = _settings(database_url)
    engine = make_engine(database_url)
    upgrade(engine)
    now = _clock.now()
    nurse = f"bench-nurse-{secrets.token_hex(3)}"
    serials = [f"BENCH-{i:06d}" for i in range(pumps)]
    with acting_as(ACTOR), transaction(engine) as session:
        clinic = default_clinic(session, settings, now=now)
        register_station(
            session,
            STATION,
            clinic_id=clinic.clinic_id,
            programmer_url="sim://",
            is_test_bench=True,
            label="API bench",
            now=now,
            created_by=ACTOR.user,
        )
        add_user(session, nurse, role=Role.NURSE, password=secrets.token_urlsafe(16), now=now, created_by=ACTOR.user)
        for serial in serials:
            patient = f"PB-{serial}"
            register_patient(session, PatientEntry(patient_ref=patient, body_mass_kg=70.0), actor=ACTOR, now=now)
            entry = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": patient}
            register_pump(session, PumpRegistration.model_validate(entry), actor=ACTOR, now=now - timedelta(days=60))
    with transaction(engine) as session:
        token = issue_token(session, nurse, station_id=STATION, now=now, label="bench").token
    engine.dispose()
    return token, serials


def _refill_body(serial: str, performed_at: datetime) -> dict[str, Any]:
    """A constant-flow floxuridine refill (as tests/api send it), once per pump."""
    return {
        "performed_at": performed_at.isoformat(),
        "returned_volume_ml": "0 mL",
        "fill_volume_ml": "30 mL",
        "body_mass_kg": "70 kg",
        "idempotency_key": f"bench-{serial}",
        "components": [
            {
                "drug_id": "floxuridine",
                "dose": {"mg_per_kg_per_day": "0.12 mg/kg/d"},
                "lot": "FU1",
                "expires_on": "2099-12-31",
            },
            {"drug_id": "saline"},
        ],
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _server(database_url: str) -> Iterator[tuple[str, int]]:
    """A uvicorn server over ``database_url`` in a subprocess; (base URL, pid)."""
    port = _free_port()
    command = [sys.executable, "-m", "bench.api_server", "--database-url", database_url]
    command += ["--station-id", STATION, "--port", str(port)]
    environment = {**os.environ, "PUMP_CLINIC_CAPACITY_PER_DAY": "400", "PUMP_CLINIC_SLOT_MINUTES": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=environment)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the bench server exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the bench server did not answer /health in time")
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drive(base: str, token: str, plans: Sequence[Sequence[Call]]) -> Load:
    """Each plan on a client thread of its own, all started together; the load they saw."""
    latencies: list[float] = []
    errors = [0]
    mutex = threading.Lock()
    start = threading.Barrier(len(plans) + 1)

    def client(plan: Sequence[Call]) -> None:
        mine: list[float] = []
        failed = 0
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
            start.wait()
            for call in plan:
                began = time.perf_counter()
                try:
                    response = http.request(call.method, call.path, json=call.body)
                    failed += response.status_code >= 300
                except httpx.HTTPError:
                    failed += 1
                mine.append(time.perf_counter() - began)
        with mutex:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return Load(
        req_per_s=len(latencies) / wall if wall > 0 else float("inf"),
        p50_ms=1000 * statistics.median(latencies),
        p99_ms=1000 * _percentile(latencies, 0.99),
        errors=errors[0],
    )


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _split(calls: Sequence[Call], clients: int) -> list[list[Call]]:
    return [list(calls[i::clients]) for i in range(clients)]


def _refill_figures(database_url: str, backend: str, *, floor: bool) -> list[Result]:
    """POST refill at each concurrency level (own pumps per client), and the floor route at 20 clients."""
    token, serials = _prepare(database_url, sum(REQUESTS_PER_LEVEL.values()))
    results: list[Result] = []
    loads: dict[int, Load] = {}
    with _server(database_url) as (base, _pid):
        performed_at = _clock.now() - timedelta(minutes=5)
        _drive(base, token, [[Call("GET", FLOOR_PATH)] * 20])  # warm the server
        taken = 0
        for clients in LEVELS:
            mine = serials[taken : taken + REQUESTS_PER_LEVEL[clients]]
            taken += len(mine)
            calls = [Call("POST", f"/pumps/{s}/refills", _refill_body(s, performed_at)) for s in mine]
            loads[clients] = _drive(base, token, _split(calls, clients))
            results += loads[clients].results(f"api_refill_c{clients}_{backend}")
        if floor:
            floor_load = _drive(base, token, _split([Call("GET", FLOOR_PATH)] * FLOOR_REQUESTS, 20))
            results += [
                Result("api_floor_c20.req_per_s", floor_load.req_per_s, "req/s", True),
                Result("api_floor_c20.p99_ms", floor_load.p99_ms, "ms", False),
                Result("api_floor_c20.p50_ms", floor_load.p50_ms, "ms", False),
                Result(
                    f"api_refill_c20_{backend}.ratio_vs_floor",
                    floor_load.req_per_s / loads[20].req_per_s if loads[20].req_per_s else float("inf"),
                    "x slower",
                    False,
                ),
            ]
    return results


def _bulk_fleet(database_url: str, count: int) -> None:
    """``count`` constant-flow pumps with patients, inserted in bulk (one audit entry per table)."""
    engine = make_engine(database_url)
    now = _clock.now()
    who = {"created_at": now, "created_by": ACTOR.user, "station_id": STATION}
    with acting_as(ACTOR), transaction(engine) as session:
        stamps = {"updated_at": now, "updated_by": ACTOR.user, **who}
        patient_rows = [{"patient_ref": f"PX-{i:06d}", **stamps} for i in range(count)]
        session.execute(insert(Patient), patient_rows)
        ids = session.execute(text("SELECT id, patient_ref FROM patient WHERE patient_ref LIKE 'PX-%'")).all()
        pump_rows = [
            {
                "serial": f"HX-{i:06d}",
                "model_id": "hai-30",
                "family": PumpFamily.CONSTANT_FLOW,
                "route": "intra_arterial",
                "patient_id": patient_id,
                "nominal_rate_ml_per_day": 1.0,
                "planning_rate_ml_per_day": 1.0,
                "reservoir_ml": 30.0,
                "reservoir_at": now,
                "alarms": [],
                "next_due_at": now + timedelta(minutes=(i * 7919) % (30 * 24 * 60)),
                "next_due_reason": "reservoir",
                "state": PumpState.ACTIVE,
                "log_epoch": 0,
                "version": 1,
                "updated_at": now,
                "updated_by": ACTOR.user,
                **who,
            }
            for i, (patient_id, _ref) in enumerate(ids)
        ]
        session.execute(insert(Pump), pump_rows)
        for table, rows in (("patient", len(patient_rows)), ("pump", len(pump_rows))):
            capture(session, action="insert", entity=table, entity_id=None, before=None, after={"rows": rows})
    engine.dispose()


def _vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def _page_through(http: httpx.Client, path: str, params: dict[str, Any]) -> int:
    """Every page of a list; how many items."""
    count, cursor = 0, None
    while True:
        page = http.get(path, params={**params, "limit": LIST_PAGE, **({"cursor": cursor} if cursor else {})})
        page.raise_for_status()
        body = page.json()
        count += len(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return count


def _timed_ms(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return 1000 * (time.perf_counter() - began)


def _server_figures(tmp: str) -> list[Result]:
    """A server over 100,000 pumps paging through all of /pumps and /due: its peak RSS, the first page."""
    database_url = f"sqlite:///{Path(tmp) / 'big.db'}"
    token, _ = _prepare(database_url, 0)
    _bulk_fleet(database_url, BIG_FLEET)
    with (
        _server(database_url) as (base, pid),
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=REQUEST_TIMEOUT_S) as http,
    ):
        samples = range(FIRST_PAGE_SAMPLES)
        first = statistics.median(_timed_ms(lambda: http.get("/pumps").raise_for_status()) for _ in samples)
        pumps = _page_through(http, "/pumps", {})
        due = _page_through(http, "/due", {"within_days": 3660})
        if pumps != BIG_FLEET or due != BIG_FLEET:
            raise RuntimeError(f"paged {pumps} pumps and {due} due items, not {BIG_FLEET}")
        rss = _vm_hwm_mib(pid)
    return [
        Result("server_100k_pumps.rss_mib", rss, "MiB", False),
        Result("server_100k_pumps.first_page_ms", first, "ms", False),
    ]


def _postgres_figures() -> list[Result]:
    try:
        with throwaway_postgres(durable=True) as base:
            admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("CREATE DATABASE bench_api"))
            admin.dispose()
            return _refill_figures(f"{base}/bench_api", "postgresql", floor=False)
    except PostgresUnavailableError as exc:
        print(f"api: PostgreSQL figures skipped: {exc}")
        return []


def run() -> list[Result]:
    """Every API figure of this run."""
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        results = _refill_figures(f"sqlite:///{Path(tmp) / 'api.db'}", "sqlite", floor=True)
        results += _postgres_figures()
        results += _server_figures(tmp)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--part", choices=("all", "refill", "postgres", "server"), default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        parts: dict[str, Callable[[], list[Result]]] = {
            "refill": lambda: _refill_figures(f"sqlite:///{Path(tmp) / 'api.db'}", "sqlite", floor=True),
            "postgres": _postgres_figures,
            "server": lambda: _server_figures(tmp),
        }
        results = run() if args.part == "all" else parts[args.part]()
    for result in results:
        print(f"{result.name:<48} {result.value:>14,.1f} {result.unit}")
    if args.output is not None:
        args.output.write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
