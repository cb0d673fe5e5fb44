"""The service side of the soak drill: one process that runs the real use cases, one JSON command a line.

``python -m testbench.soak_worker SETTINGS_JSON`` reads commands on stdin and answers each with one
JSON line on stdout. The driver (``testbench/soak.py``) owns the simulated world and the virtual
clock; it kills this process at random moments and starts another, so nothing here may matter
across a restart except the database and the pumps. Commands:

- ``{"op": "cosign", "serial", "at", "fill_ml"}``: the second nurse signs an intrathecal fill;
- ``{"op": "visit", "serial", "at", "actor", "device", "entry", "crash_at"?}``: ``complete_visit``;
- ``{"op": "tick", "at"}``: one tick of the real scheduler.

``at`` is the virtual moment the command starts; the clock then runs in real time
(:class:`~simulators.running_clock.RunningClock`), so the driver's reply deadlines work over TCP.
``crash_at`` arms one of the visit's ``PUMP_CRASH_AT`` points for this command only. An answer is
``{"ok": true, ...}`` or ``{"ok": false, "kind": ..., "message": ...}``: every failure is reported
with its kind, never swallowed, so the driver can tell a retry-able one from a bug.
"""

import json
import os
import sys
import traceback
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from pump_service.domain.access import Role
from pump_service.domain.findings import NOT_OVERRIDABLE, HardStopError
from pump_service.errors import DeviceError, DeviceOutcomeUnknownError, ServiceError, StorageUnavailableError
from pump_service.persistence.db import make_engine
from pump_service.scheduler.runner import RefillScheduler
from pump_service.services.actor import Actor
from pump_service.services.contracts import RefillEntry
from pump_service.services.visits.cosignatures import sign_cosignature
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from simulators.running_clock import RunningClock
from testbench.clinic_nurse import second_check_request
from testbench.clinic_service import BENCH_STATION

__all__ = ["ACTORS", "main"]

ACTORS = {
    "nurse": Actor(user="bench-nurse-1", station_id=BENCH_STATION, role=Role.NURSE),
    "physician": Actor(user="bench-physician", station_id=BENCH_STATION, role=Role.PHYSICIAN),
}
CRASH_ENV = "PUMP_CRASH_AT"


def _cosign(engine: Engine, command: dict[str, Any], clock: RunningClock) -> dict[str, Any]:
    request = second_check_request(float(command["fill_ml"]))
    view = sign_cosignature(engine, command["serial"], request, requester=ACTORS["nurse"], clock=clock)
    return {"ok": True, "cosignature_id": view.cosignature_id}


def _visit(engine: Engine, settings: Settings, command: dict[str, Any], clock: RunningClock) -> dict[str, Any]:
    crash_at = command.get("crash_at")
    if crash_at:
        os.environ[CRASH_ENV] = str(crash_at)
    try:
        result = complete_visit(
            engine,
            command["serial"],
            RefillEntry.model_validate(command["entry"]),
            settings=settings,
            clock=clock,
            actor=ACTORS[command["actor"]],
            device_url=command["device"],
        )
    finally:
        os.environ.pop(CRASH_ENV, None)
    return {"ok": True, "result": result.model_dump(mode="json")}


def _tick(engine: Engine, settings: Settings, clock: RunningClock) -> dict[str, Any]:
    report = RefillScheduler(engine, settings, clock).tick()
    return {"ok": True, "created": dict(report.created)}


def _failure(kind: str, exc: BaseException, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "kind": kind, "type": type(exc).__name__, "message": str(exc), **extra}


def handle(engine: Engine, settings: Settings, command: dict[str, Any]) -> dict[str, Any]:
    """Run one command; every outcome, a bug included, becomes an answer the driver can judge."""
    clock = RunningClock(datetime.fromisoformat(command["at"]))
    op = command.get("op")
    try:
        if op == "cosign":
            return _cosign(engine, command, clock)
        if op == "visit":
            return _visit(engine, settings, command, clock)
        if op == "tick":
            return _tick(engine, settings, clock)
        return {"ok": False, "kind": "bad_command", "message": f"unknown op {op!r}"}
    except HardStopError as stop:
        overridable = not any(f.code in NOT_OVERRIDABLE for f in stop.unresolved)
        return _failure("hard_stop", stop, overridable=overridable, codes=[f.code.value for f in stop.unresolved])
    except DeviceOutcomeUnknownError as exc:
        return _failure("device_unknown", exc)
    except DeviceError as exc:
        return _failure("device", exc)
    except StorageUnavailableError as exc:
        return _failure("storage", exc)
    except ServiceError as exc:
        return _failure("refused", exc)
    except Exception as exc:  # the drill's boundary: a bug is reported to the driver, not hidden
        return _failure("unexpected", exc, traceback=traceback.format_exc())


def main(argv: list[str]) -> int:
    """Serve commands from stdin until it closes; ``argv[1]`` is the settings as JSON."""
    # The answers get stdout to themselves; the service's logs (structlog prints) go to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    settings = Settings.model_validate(json.loads(argv[1]))
    engine = make_engine(settings.database_url)
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in sys.stdin:
        answer = handle(engine, settings, json.loads(line))
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
