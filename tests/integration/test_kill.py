"""Kill test: a refill visit SIGKILLed at each step ends consistent after a plain retry.

The station runs as a real subprocess (the CLI) against a simulated programmer served on TCP by
this test process, which survives the kill, like the real programmer and pump would.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

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
