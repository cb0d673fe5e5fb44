"""Kill drills: a refill visit SIGKILLed at each step, and a server SIGKILLed under 20 clients.

The CLI drills run the station as a real subprocess against a simulated programmer served on TCP
by this test process, which survives the kill, like the real programmer and pump would. The HTTP
drill kills a real ``pump-service serve`` at a random moment of a burst of refills, restarts it and
retries every request exactly as first sent: each acknowledged refill is there once with its
charges, the unanswered ones land once on the retry, and no charge is left without its refill.
"""

import os
import random
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import DeviceLogRecord, Refill
from pump_service.persistence.visit_models import Visit
from pump_service.services.actor import Actor
from pump_service.services.contracts import PumpRegistration
from pump_service.services.pumps.registry import register_pump
from schemas.clock import SystemClock
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.serve import ProgrammerServer, serve_tcp
from tests.auth_support import make_user
from tests.reliability.server_support import Server, Station, prepare_station, refill_body, serving, sqlite_rows

pytestmark = pytest.mark.slow
CLOCK = SystemClock()
CLI = Path(sys.executable).with_name("pump-service")


@pytest.fixture
def server() -> Iterator[ProgrammerServer]:
    pump = SimulatedProgrammablePump(
        get_pump_model("programmable-20"),
        clock=CLOCK,
        serial="SM-K",
        accuracy_factor=1.0,
        volume_ml=4.0,
        prescription=ContinuousPrescription(rate_ml_per_day=0.5),
    )
    with serve_tcp(SimulatedProgrammer([pump], clock=CLOCK)) as server:
        yield server


SECOND = ("nurse-2", "nurse-2-own-password")


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/station.db"
    engine = make_engine(url)
    upgrade(engine)
    body = {
        "serial": "SM-K",
        "model_id": "programmable-20",
        "route": "intrathecal",
        "prescription": {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"},
    }
    with transaction(engine) as session:
        actor = Actor(user="nurse-1", station_id="s1")
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=CLOCK.now() - timedelta(days=1))
    make_user(engine, Role.NURSE, username=SECOND[0], password=SECOND[1])
    engine.dispose()
    return url


def _refill(url: str, port: str, at: str, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PUMP_DATABASE_URL": url, "PUMP_ACTOR": "nurse-1"}
    env.pop("PUMP_CRASH_AT", None)
    if crash_at:
        env["PUMP_CRASH_AT"] = crash_at
    args = [str(CLI), "refill", "record", "SM-K", "--returned", "4 mL", "--fill", "20 mL"]
    args += ["-c", "baclofen:conc=2 mg/mL,lot=B1", "--idempotency-key", "kill-test-visit-1", "--port", port, "--at", at]
    args += ["--second-check-by", SECOND[0]]  # a second nurse types their password at each attempt
    typed = SECOND[1] + "\n"
    return subprocess.run(args, env=env, input=typed, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("crash_at", ["before_device_write", "after_device_write", "mid_commit", "after_commit"])
def test_a_visit_killed_at_any_step_is_consistent_after_a_retry(
    tmp_path: Path, server: ProgrammerServer, crash_at: str
) -> None:
    url = _database(tmp_path)
    at = (CLOCK.now() - timedelta(minutes=1)).isoformat()
    killed = _refill(url, server.address, at, crash_at)
    assert killed.returncode == -9, killed.stderr
    retried = _refill(url, server.address, at, None)
    assert retried.returncode == 0, retried.stderr
    again = _refill(url, server.address, at, None)
    assert "already recorded" in again.stdout
    engine = make_engine(url)
    with transaction(engine) as session:
        refills = session.exec(select(func.count()).select_from(Refill)).one()
        visits = session.exec(select(Visit)).all()
        refilled = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "REFILLED")).all()
    engine.dispose()
    assert refills == 1
    assert [v.state for v in visits] == ["committed"]
    executed = server.programmer.executed
    assert [c for c, _ in executed] == ["REFILL"]  # the pump took the refill exactly once
    assert executed[0][1] == visits[0].refill_request_id
    assert [r.log_index for r in refilled] == [0]
    assert server.programmer.pumps["SM-K"].register_ml == pytest.approx(20.0, abs=1e-3)


@pytest.fixture
def baclofen_server() -> Iterator[ProgrammerServer]:
    pump = SimulatedProgrammablePump(
        get_pump_model("programmable-20"),
        clock=CLOCK,
        serial="SM-K",
        accuracy_factor=1.0,
        volume_ml=4.0,
        prescription=ContinuousPrescription(rate_ml_per_day=0.5),
        drug=DrugInPump(name="baclofen", conc_mg_per_ml=2.0),
    )
    with serve_tcp(SimulatedProgrammer([pump], clock=CLOCK)) as server:
        yield server


def _reprogram(url: str, port: str, at: str, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PUMP_DATABASE_URL": url, "PUMP_ACTOR": "nurse-1"}
    env.pop("PUMP_CRASH_AT", None)
    if crash_at:
        env["PUMP_CRASH_AT"] = crash_at
    rx = '{"mode": "continuous", "rate_ml_per_day": "0.6 mL/d"}'
    args = [str(CLI), "visit", "reprogram", "SM-K", "--rx", rx, "--idempotency-key", "kill-test-reprogram-1"]
    args += ["--port", port, "--at", at]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("crash_at", ["before_device_write", "after_device_write", "mid_commit", "after_commit"])
def test_a_reprogramming_killed_at_any_step_is_consistent_after_a_retry(
    tmp_path: Path, baclofen_server: ProgrammerServer, crash_at: str
) -> None:
    url = _database(tmp_path)
    at = (CLOCK.now() - timedelta(minutes=1)).isoformat()
    killed = _reprogram(url, baclofen_server.address, at, crash_at)
    assert killed.returncode == -9, killed.stderr
    retried = _reprogram(url, baclofen_server.address, at, None)
    assert retried.returncode == 0, retried.stderr
    assert "already recorded" in _reprogram(url, baclofen_server.address, at, None).stdout
    engine = make_engine(url)
    with transaction(engine) as session:
        visits = session.exec(select(Visit)).all()
        changed = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "RX_CHANGED")).all()
    engine.dispose()
    assert [(v.kind, v.state) for v in visits] == [("reprogramming", "committed")]
    executed = baclofen_server.programmer.executed
    assert [c for c, _ in executed] == ["RX_WRITE"]  # the pump took the prescription exactly once
    assert executed[0][1] == visits[0].rx_request_id
    assert len(changed) == 1
    assert baclofen_server.programmer.pumps["SM-K"].prescription.mean_rate_ml_per_day() == pytest.approx(0.6)


# --- The HTTP server SIGKILLed at random points while 20 clients record refills ---------------------------------

CLIENTS = 20
REFILLS_PER_CLIENT = 2
QUICK_ROUNDS = 2  # in make test (about 20 s each on 2 busy cores); the soak runs SOAK_RUNS
SOAK_RUNS = 50


@dataclass
class Outcomes:
    """What the clients saw: the keys the server acknowledged (2xx) and those it never answered."""

    acknowledged: set[str] = field(default_factory=set)
    unanswered: set[str] = field(default_factory=set)
    refused: list[tuple[str, int]] = field(default_factory=list)
    mutex: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_acknowledged(self, count: int, timeout_s: float) -> None:
        with self.mutex:
            self.mutex.wait_for(lambda: len(self.acknowledged) >= count, timeout=timeout_s)


def _drive(base: str, station: Station, plans: list[list[tuple[str, str, dict[str, Any]]]], seen: Outcomes) -> None:
    """Each plan on a client thread of its own; a request the server did not answer stays unanswered."""
    start = threading.Barrier(len(plans))

    def client(plan: list[tuple[str, str, dict[str, Any]]]) -> None:
        with httpx.Client(base_url=base, headers=station.headers, timeout=30.0) as http:
            start.wait()
            for serial, key, body in plan:
                try:
                    response = http.post(f"/pumps/{serial}/refills", json=body)
                except httpx.HTTPError:
                    with seen.mutex:
                        seen.unanswered.add(key)
                    continue
                with seen.mutex:
                    if response.is_success:
                        seen.acknowledged.add(key)
                        seen.mutex.notify_all()
                    else:
                        seen.refused.append((key, response.status_code))

    threads = [threading.Thread(target=client, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _stored(database: Path) -> tuple[Counter[str], list[tuple[Any, ...]]]:
    """Refills per idempotency key, and every charge line as (refill key or None, code, kind)."""
    keys = Counter(row[0] for row in sqlite_rows(database, "SELECT idempotency_key FROM refill"))
    charges = sqlite_rows(
        database,
        "SELECT refill.idempotency_key, charge_event.code, charge_event.kind FROM charge_event"
        " LEFT JOIN refill ON refill.id = charge_event.refill_id",
    )
    return keys, charges


def _kill_after(server: Server, seen: Outcomes, acknowledged: int, jitter_s: float) -> None:
    """SIGKILL the server a moment after it acknowledged ``acknowledged`` refills: inside the burst."""
    seen.wait_for_acknowledged(acknowledged, timeout_s=120)
    CLOCK.sleep(jitter_s)
    server.kill9()


def _kill_round(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    database = tmp_path / "station.db"
    station = prepare_station(f"sqlite:///{database}", CLIENTS * REFILLS_PER_CLIENT + 1)
    warm, *serials = station.serials
    plans = [
        [(s, f"kill-{seed}-{s}", refill_body(f"kill-{seed}-{s}")) for s in serials[c::CLIENTS]] for c in range(CLIENTS)
    ]
    everything = {key: (serial, body) for plan in plans for serial, key, body in plan}
    seen = Outcomes()
    server = Server(station.database_url)
    try:
        server.wait_ready()
        warm_up = httpx.post(
            f"{server.base}/pumps/{warm}/refills",
            json=refill_body(f"warm-up-{seed:04d}"),
            headers=station.headers,
            timeout=60,
        )
        assert warm_up.status_code == 201, warm_up.text  # the first refill of a process is slow: not in the burst
        target = rng.randrange(1, len(everything))
        killer = threading.Thread(target=_kill_after, args=(server, seen, target, rng.uniform(0.0, 0.05)))
        killer.start()
        _drive(server.base, station, plans, seen)
        killer.join()
    finally:
        server.kill9()
    assert not [r for r in seen.refused if r[1] < 500], seen.refused  # the server never refused a good refill
    keys, charges = _stored(database)
    assert {k: keys[k] for k in seen.acknowledged} == dict.fromkeys(seen.acknowledged, 1), "an acknowledged refill lost"
    assert max(keys.values(), default=1) == 1, "a refill stored twice"
    with serving(station.database_url) as again:
        retried = {}
        with httpx.Client(base_url=again.base, headers=station.headers, timeout=30.0) as http:
            for key, (serial, body) in everything.items():  # every one, acknowledged or not, exactly as first sent
                retried[key] = http.post(f"/pumps/{serial}/refills", json=body)
    assert {k: r.status_code for k, r in retried.items() if not r.is_success} == {}
    assert all(retried[k].json()["replayed"] for k in seen.acknowledged)
    keys, charges = _stored(database)
    assert keys == Counter(
        {**dict.fromkeys(everything, 1), f"warm-up-{seed:04d}": 1}
    )  # each refill once, the unanswered too
    assert [c for c in charges if c[0] is None] == []  # no charge without its refill
    per_refill: dict[str, Counter[tuple[str, str]]] = {}
    for key, code, kind in charges:
        per_refill.setdefault(key, Counter())[(code, kind)] += 1
    assert set(per_refill) == {*everything, f"warm-up-{seed:04d}"}  # every refill has its charges
    assert len({frozenset(c.items()) for c in per_refill.values()}) == 1  # the same lines for the same refill


@pytest.mark.parametrize("seed", range(QUICK_ROUNDS))
def test_a_server_killed_during_refills_from_20_clients_loses_and_repeats_nothing(tmp_path: Path, seed: int) -> None:
    _kill_round(tmp_path, seed)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(1000, 1000 + SOAK_RUNS))
def test_soak_a_server_killed_during_refills_50_runs(tmp_path: Path, seed: int) -> None:
    _kill_round(tmp_path, seed)
