"""What the audit trail costs: a programmable refill visit over sim:// with and without its hooks.

Per visit: SQL statements sent to the database and wall-clock time (best of three batches), and
the number of audit entries written; then the time ``audit verify`` takes per 10 000 entries.
Run alone with ``python -m bench --only audit``.
"""

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from bench import Result
from bench.service import SECOND_NURSE, second_check
from bench.sizes import sized
from pump_service.domain.access import Role
from pump_service.persistence.audit_models import AuditEntry
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.accounts import add_user
from pump_service.services.actor import Actor, acting_as
from pump_service.services.audit import verify_audit_chain
from pump_service.services.audit.capture import SESSION_HOOKS, install_audit_hooks
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from simulators.clock import ManualClock
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.transport import register_programmer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = Actor(user="bench", station_id="bench")
VISITS = sized(30, 2)
RUNS = sized(3, 1)  # batches of VISITS, with and without the hooks: best of
VERIFY_BATCHES, VERIFY_PATIENTS = sized((20, 500), (2, 5))  # 10,000 patients: one audit entry each
VERIFY_REPEATS = sized(3, 1)


@contextmanager
def _without_audit() -> Iterator[None]:
    for name, listener in SESSION_HOOKS:
        event.remove(Session, name, listener)
    try:
        yield
    finally:
        install_audit_hooks()


def _visits(tmp: str, run: int) -> tuple[float, float, int]:
    """Seconds and statements per visit, and audit entries written, for VISITS refills."""
    settings = Settings(database_url=f"sqlite:///{Path(tmp) / f'audit-{run}.db'}", station_id="bench")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    clock = ManualClock(T0)
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="B-1", body_mass_kg=70.0), actor=ACTOR, now=T0)
        add_user(session, SECOND_NURSE[0], role=Role.NURSE, password=SECOND_NURSE[1], now=T0, created_by=ACTOR.user)
        for i in range(VISITS):
            body: dict[str, Any] = {
                "serial": f"A-{i:04d}",
                "model_id": "programmable-20",
                "route": "intrathecal",
                "patient_ref": "B-1",
                "prescription": {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"},
            }
            register_pump(session, PumpRegistration.model_validate(body), actor=ACTOR, now=T0)
    pumps = [
        SimulatedProgrammablePump(
            get_pump_model("programmable-20"),
            clock=clock,
            serial=f"A-{i:04d}",
            volume_ml=4.0,
            prescription=ContinuousPrescription(rate_ml_per_day=0.5),
        )
        for i in range(VISITS)
    ]
    url = f"sim://bench-audit-{run}"
    register_programmer(url, SimulatedProgrammer(pumps, clock=clock))
    checks = [second_check(engine, f"A-{i:04d}", clock) for i in range(VISITS)]  # signed before the timing
    before = _entries(engine)
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
    started = time.perf_counter()
    with acting_as(ACTOR):
        for i in range(VISITS):
            entry = RefillEntry.model_validate(
                {
                    "performed_at": T0,
                    "returned_volume_ml": 4.0,
                    "fill_volume_ml": "20 mL",
                    "idempotency_key": f"bench-audit-{i:04d}",
                    "components": [{"drug_id": "baclofen", "conc_mg_per_ml": "2 mg/mL"}],
                    "cosignatures": [checks[i]],
                }
            )
            complete_visit(engine, f"A-{i:04d}", entry, settings=settings, clock=clock, actor=ACTOR, device_url=url)
    elapsed = time.perf_counter() - started
    event.remove(engine, "before_cursor_execute", count)
    written = _entries(engine) - before
    engine.dispose()
    return elapsed / VISITS, statements / VISITS, written


def _entries(engine: Engine) -> int:
    with transaction(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _verify_seconds_per_10k(tmp: str) -> float:
    engine = make_engine(f"sqlite:///{Path(tmp) / 'verify.db'}")
    upgrade(engine)
    with acting_as(ACTOR):
        for batch in range(VERIFY_BATCHES):
            with transaction(engine) as session:
                for i in range(VERIFY_PATIENTS):
                    ref = f"V-{batch:02d}-{i:03d}"
                    register_patient(session, PatientEntry(patient_ref=ref, body_mass_kg=70.0), actor=ACTOR, now=T0)
    entries = _entries(engine)
    best = float("inf")
    for _ in range(VERIFY_REPEATS):
        with transaction(engine) as session:
            started = time.perf_counter()
            verdict = verify_audit_chain(session)
            best = min(best, time.perf_counter() - started)
        if not verdict.intact:
            raise RuntimeError(f"bench chain does not verify: {verdict.problem}")
    engine.dispose()
    return best * 10_000 / entries


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        audited = [_visits(tmp, run) for run in range(RUNS)]
        with _without_audit():
            plain = [_visits(tmp, run) for run in range(RUNS, 2 * RUNS)]
        verify = _verify_seconds_per_10k(tmp)
    return [
        Result("audit.refill_visit_ms_audited", min(r[0] for r in audited) * 1000, "ms/visit", False),
        Result("audit.refill_visit_ms_unaudited", min(r[0] for r in plain) * 1000, "ms/visit", False),
        Result("audit.refill_visit_statements_audited", audited[0][1], "statements/visit", False),
        Result("audit.refill_visit_statements_unaudited", plain[0][1], "statements/visit", False),
        Result("audit.refill_visit_entries", audited[0][2] / VISITS, "entries/visit", False),
        Result("audit.verify_s_per_10k_entries", verify, "s", False),
    ]
