"""A refill visit end to end: check everything, write the pump once, commit everything together.

Order, and why:

1. **Dry run.** The whole refill is computed in a transaction that is rolled back: every rule
   violation (a fill above capacity, an expired lot, a dose outside its guard, a prescription
   outside the pump's limits, a billing fact that does not add up) surfaces *before* the pump is
   touched. A replayed request (same idempotency key and content) returns the stored refill.
2. **Visit row.** For a programmable pump the visit is committed in state ``writing`` with the
   ``request_id`` of each write and the pump log's cursor, *before* anything is sent.
3. **Device.** ``REFILL`` (and ``RX_WRITE`` for a dose change) go through the programmer; first,
   the pump log after the cursor is searched for those request ids, so a retry after a crash
   never writes twice. ``STATUS`` is read back and must match.
4. **Commit.** The refill, the pump's state, the device log, the next due date and appointment and
   the charge events are written in one transaction, which also marks the visit ``committed``.

If the process dies anywhere, a retry of the same request (same idempotency key) resumes: a
visit in ``writing`` is reconciled from the pump's log, and a committed visit is replayed.
"""

import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from pump_service.devices import ProgrammerClient, programmer_link
from pump_service.errors import ConflictError, DeviceError, RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Refill
from pump_service.persistence.visit_models import Visit
from pump_service.services.actor import Actor
from pump_service.services.charges import record_visit_charges
from pump_service.services.contracts import RefillEntry, RefillResult
from pump_service.services.crashpoints import crashpoint
from pump_service.services.interrogation import store_log_entries, store_status
from pump_service.services.pumps import get_pump, write_prescription_row
from pump_service.services.refills import record_refill, refill_key, refill_result
from pump_service.settings import Settings
from schemas.clock import Clock
from schemas.device_log import LogEntryType
from schemas.drug import AmountBasis
from schemas.drug_catalogue import get_drug
from schemas.prescription import ContinuousPrescription, StepsPrescription
from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump, PumpStatus

__all__ = ["complete_visit"]

READBACK_TOLERANCE_ML = 0.01


class _DryRun(Exception):  # noqa: N818 - control flow, never escapes this module
    """Raised to roll back the dry run's transaction."""


@dataclass(frozen=True, slots=True)
class _Plan:
    family: PumpFamily
    pump_id: int
    replay: RefillResult | None


@contextmanager
def _rolled_back(engine: Engine) -> Iterator[Session]:
    try:
        with transaction(engine) as session:
            yield session
            raise _DryRun
    except _DryRun:
        pass


def _write_ids(visit_key: str) -> tuple[str, str]:
    # request ids are at most 64 characters; the visit key may be 80: a stable digest of it.
    stem = "v" + hashlib.sha256(visit_key.encode()).hexdigest()[:32]
    return f"{stem}-refill", f"{stem}-rx"


def _record_all(
    session: Session,
    serial: str,
    entry: RefillEntry,
    *,
    visit_key: str,
    settings: Settings,
    actor: Actor,
    now: datetime,
    status: PumpStatus | None = None,
    extra_warnings: tuple[str, ...] = (),
) -> RefillResult:
    """Everything a refill writes, in the caller's transaction (dry run and commit alike)."""
    if repo.refill_by_key(session, visit_key) is not None:  # a replay: record_refill checks and returns it
        return record_refill(session, serial, entry, actor=actor, settings=settings, now=now)
    pump = get_pump(session, serial, for_update=True)
    if entry.prescription is not None:
        rx = entry.prescription
        if status is not None and status.prescription is not None:
            rx = rx.model_copy(update={"rx_id": status.prescription.rx_id})
        write_prescription_row(session, pump, rx, actor=actor, now=entry.performed_at)
    result = record_refill(
        session, serial, entry, actor=actor, settings=settings, now=now, extra_warnings=extra_warnings
    )
    refill = session.get(Refill, result.refill_id)
    assert refill is not None  # noqa: S101 - just written
    charges = record_visit_charges(
        session,
        visit_key=visit_key,
        refill=refill,
        pump=pump,
        entry=entry,
        settings=settings,
        actor=actor,
        now=now,
        prescription_changed=entry.prescription is not None,
        analysis_done=status is not None,
    )
    if charges.warnings:  # the coverage pre-check's findings travel with the refill's warnings
        refill.warnings = [*refill.warnings, *(f"billing:{w.code}: {w.message}" for w in charges.warnings)]
        session.add(refill)
    if status is not None:
        store_status(session, pump, status, read_at=now, settings=settings, actor=actor)
    return result


def _plan(
    engine: Engine, serial: str, entry: RefillEntry, visit_key: str, settings: Settings, actor: Actor, now: datetime
) -> _Plan:
    plan: _Plan | None = None
    with _rolled_back(engine) as session:
        pump = get_pump(session, serial)
        assert pump.id is not None  # noqa: S101
        family = PumpFamily(pump.family)
        if entry.prescription is not None and family is not PumpFamily.PROGRAMMABLE:
            raise RuleViolationError("a constant-flow pump takes no prescription", field="prescription")
        result = _record_all(session, serial, entry, visit_key=visit_key, settings=settings, actor=actor, now=now)
        plan = _Plan(family, pump.id, result if result.replayed else None)
    assert plan is not None  # noqa: S101
    return plan


def complete_visit(
    engine: Engine,
    serial: str,
    entry: RefillEntry,
    *,
    settings: Settings,
    clock: Clock,
    actor: Actor,
    device_url: str | None = None,
) -> RefillResult:
    """Record a refill visit exactly once, writing a programmable pump through the programmer.

    Raises:
        RuleViolationError: bad input (nothing stored, the pump not written).
        NotFoundError: no such pump.
        ConflictError: the idempotency key names a different request.
        DeviceError: the programmer failed or the read-back disagrees (the visit can be retried).
        DeviceOutcomeUnknownError: a write went out without a verified answer (retry to reconcile).
    """
    now = clock.now()
    visit_key, digest = refill_key(serial, entry)
    plan = _plan(engine, serial, entry, visit_key, settings, actor, now)
    if plan.replay is not None:
        return plan.replay
    if plan.family is PumpFamily.CONSTANT_FLOW:
        return _commit(
            engine, serial, entry, visit_key=visit_key, digest=digest, settings=settings, actor=actor, now=now
        )
    url = device_url or settings.device_url
    with programmer_link(url, clock=clock) as client:
        client.link(serial)
        before = client.status()
        visit = _writing_visit(engine, plan.pump_id, visit_key, digest, before, actor, now)
        crashpoint("before_device_write")
        warnings = _write_pump(client, serial, entry, visit, before)
        crashpoint("after_device_write")
        after = client.status()
        _check_readback(entry, after)
        log = client.read_log(visit.log_cursor or 0)
    warnings += _pocket_fill_warnings(serial, entry, before, after)
    with transaction(engine) as session:
        store_log_entries(session, plan.pump_id, log.entries, actor=actor, now=clock.now())
    return _commit(
        engine,
        serial,
        entry,
        visit_key=visit_key,
        digest=digest,
        settings=settings,
        actor=actor,
        now=now,
        status=after,
        warnings=tuple(warnings),
    )


def _writing_visit(
    engine: Engine, pump_id: int, visit_key: str, digest: str, before: PumpStatus, actor: Actor, now: datetime
) -> Visit:
    refill_id, rx_id = _write_ids(visit_key)
    with transaction(engine) as session:
        visit = session.exec(select(Visit).where(Visit.visit_key == visit_key)).first()
        if visit is None:
            visit = Visit(
                visit_key=visit_key,
                pump_id=pump_id,
                state="writing",
                request_digest=digest,
                refill_request_id=refill_id,
                rx_request_id=rx_id,
                log_cursor=before.log.next,
                started_at=now,
                started_by=actor.user,
                station_id=actor.station_id,
                updated_at=now,
                updated_by=actor.user,
            )
        elif visit.request_digest != digest:
            raise ConflictError(f"visit {visit_key} was started for a different refill")
        visit.updated_at, visit.updated_by = now, actor.user
        session.add(visit)
        session.flush()
        session.expunge(visit)
    return visit


def _landed(client: ProgrammerClient, cursor: int, request_id: str, entry_type: LogEntryType) -> bool:
    for page in client.read_log_pages(cursor):
        if any(e.type is entry_type and e.data.get("request_id") == request_id for e in page.entries):
            return True
    return False


def _drug_in_pump(entry: RefillEntry) -> DrugInPump:
    """What the pump is told it holds: the first active drug and its concentration in the fill."""
    for component in entry.components:
        drug = get_drug(component.drug_id)
        if drug.amount_basis is AmountBasis.MASS and component.conc_mg_per_ml is not None:
            return DrugInPump(name=drug.drug_id, conc_mg_per_ml=component.conc_mg_per_ml)
        if drug.amount_basis is AmountBasis.MASS and component.amount_mg is not None:
            return DrugInPump(name=drug.drug_id, conc_mg_per_ml=component.amount_mg / entry.fill_volume_ml)
    return DrugInPump(name=get_drug(entry.components[0].drug_id).drug_id)


def _write_pump(
    client: ProgrammerClient, serial: str, entry: RefillEntry, visit: Visit, before: PumpStatus
) -> list[str]:
    assert visit.refill_request_id is not None  # noqa: S101 - set when the visit was created
    assert visit.rx_request_id is not None  # noqa: S101
    cursor = visit.log_cursor or 0
    warnings: list[str] = []
    if not _landed(client, cursor, visit.refill_request_id, LogEntryType.REFILLED):
        capacity = before.capacity_ml
        # The programmer refuses more than capacity minus what its register says remains.
        # Rounded down to 0.01 mL: the register keeps falling between STATUS and REFILL.
        room = math.floor((capacity - max(0.0, before.reservoir_ml - entry.returned_volume_ml)) * 100) / 100
        added = min(entry.fill_volume_ml, room)
        if added < entry.fill_volume_ml - READBACK_TOLERANCE_ML:
            warnings.append(
                f"programmer_register: recorded {added:.2f} mL added, the register disagreed with the return"
            )
        client.refill(
            volume_removed_ml=entry.returned_volume_ml,
            volume_added_ml=added,
            drug=_drug_in_pump(entry),
            reservoir_after_ml=entry.fill_volume_ml,
            request_id=visit.refill_request_id,
        )
    if entry.prescription is not None and not _landed(client, cursor, visit.rx_request_id, LogEntryType.RX_CHANGED):
        current = client.status().prescription
        expect = current.rx_id if current is not None and current.rx_id is not None else ""
        client.write_prescription(entry.prescription, expect=expect, request_id=visit.rx_request_id)
    return warnings


def _check_readback(entry: RefillEntry, after: PumpStatus) -> None:
    if abs(after.reservoir_ml - entry.fill_volume_ml) > READBACK_TOLERANCE_ML:
        raise DeviceError(
            f"after the refill the pump reports {after.reservoir_ml:.2f} mL, not the {entry.fill_volume_ml:.2f} mL "
            "written: check the pump before recording"
        )
    wanted = entry.prescription
    got = after.prescription
    if wanted is None:
        return
    same = type(got) is type(wanted) and (
        not isinstance(wanted, ContinuousPrescription | StepsPrescription)
        or abs(wanted.mean_rate_ml_per_day() - (got.mean_rate_ml_per_day() if got else 0.0)) <= 1e-6
    )
    if not same:
        raise DeviceError("after the refill the pump reports a different prescription than was written")


def _pocket_fill_warnings(serial: str, entry: RefillEntry, before: PumpStatus, after: PumpStatus) -> list[str]:
    """Maino 2017: a discrepancy over 1 mL (20 mL pumps) or 2 mL (40 mL pumps) may be a pocket fill."""
    threshold = get_pump_model(before.model_id).pocket_fill_threshold_ml
    if threshold is None:
        return []
    warnings = []
    missing = before.reservoir_ml - entry.returned_volume_ml
    if missing > threshold:
        warnings.append(
            f"pocket_fill_suspected: the pump expected {before.reservoir_ml:.2f} mL but "
            f"{entry.returned_volume_ml:.2f} mL came back (part of the previous fill in the pocket, "
            "or incomplete aspiration)"
        )
    if abs(after.reservoir_ml - entry.fill_volume_ml) > threshold:
        warnings.append(f"pocket_fill_suspected: post-refill reading {after.reservoir_ml:.2f} mL on {serial}")
    return warnings


def _commit(
    engine: Engine,
    serial: str,
    entry: RefillEntry,
    *,
    visit_key: str,
    digest: str,
    settings: Settings,
    actor: Actor,
    now: datetime,
    status: PumpStatus | None = None,
    warnings: tuple[str, ...] = (),
) -> RefillResult:
    with transaction(engine) as session:
        result = _record_all(
            session,
            serial,
            entry,
            visit_key=visit_key,
            settings=settings,
            actor=actor,
            now=now,
            status=status,
            extra_warnings=warnings,
        )
        visit = session.exec(select(Visit).where(Visit.visit_key == visit_key)).first()
        if visit is None:
            pump = get_pump(session, serial)
            assert pump.id is not None  # noqa: S101
            visit = Visit(
                visit_key=visit_key,
                pump_id=pump.id,
                state="writing",
                request_digest=digest,
                started_at=now,
                started_by=actor.user,
                station_id=actor.station_id,
                updated_at=now,
                updated_by=actor.user,
            )
        visit.state = "committed"
        visit.refill_id = result.refill_id
        visit.updated_at, visit.updated_by = now, actor.user
        session.add(visit)
        session.flush()
        crashpoint("mid_commit")
    crashpoint("after_commit")
    with transaction(engine) as session:
        refill = session.get(Refill, result.refill_id)
        assert refill is not None  # noqa: S101
        return refill_result(session, refill)
