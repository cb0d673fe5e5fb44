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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from pump_service.devices import check_prescription_writable, programmer_link
from pump_service.domain.reservoir import daily_volume_ml
from pump_service.errors import ConflictError, RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Refill
from pump_service.persistence.visit_models import Visit
from pump_service.services.actor import Actor
from pump_service.services.charges.recording import record_visit_charges
from pump_service.services.contracts import RefillEntry, RefillResult
from pump_service.services.pumps.registry import (
    check_prescription_fits,
    get_pump,
    prescription_differs,
    write_prescription_row,
)
from pump_service.services.visits.continuity import check_continuity
from pump_service.services.visits.crashpoints import crashpoint
from pump_service.services.visits.device_writes import check_prescription, check_readback, settle_unfinished, write_pump
from pump_service.services.visits.interrogation import log_cursor, store_log_entries, store_status
from pump_service.services.visits.refill_record import record_refill, refill_key
from pump_service.services.visits.refill_views import refill_result
from pump_service.settings import Settings
from schemas.clock import Clock
from schemas.drug import AmountBasis
from schemas.drug_catalogue import get_drug
from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump, PumpStatus

__all__ = ["complete_visit"]


class _DryRun(Exception):  # noqa: N818 - control flow, never escapes this module
    """Raised to roll back the dry run's transaction."""


@dataclass(frozen=True, slots=True)
class _Plan:
    family: PumpFamily
    pump_id: int
    result: RefillResult  # the dry run's figures (or the stored refill, when replayed)
    rx_changed: bool  # the request's prescription differs from the one in force


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
    read_at: datetime | None = None,
    extra_warnings: tuple[str, ...] = (),
) -> RefillResult:
    """Everything a refill writes, in the caller's transaction (dry run and commit alike)."""
    if repo.refill_by_key(session, visit_key) is not None:  # a replay: record_refill checks and returns it
        return record_refill(session, serial, entry, actor=actor, settings=settings, now=now)
    pump = get_pump(session, serial, for_update=True)
    rx_changed = entry.prescription is not None and prescription_differs(session, pump, entry.prescription)
    if entry.prescription is not None:
        check_prescription_fits(pump, entry.prescription)
    new_daily = daily_volume_ml(entry.prescription) if entry.prescription is not None and rx_changed else None
    # The return is judged against the prescription of the interval that ends now; the new fill
    # is dosed and planned on the new one, written after.
    result = record_refill(
        session,
        serial,
        entry,
        actor=actor,
        settings=settings,
        now=now,
        extra_warnings=extra_warnings,
        new_daily_volume_ml=new_daily,
    )
    if entry.prescription is not None and rx_changed:
        rx = entry.prescription
        if status is not None and status.prescription is not None:
            rx = rx.model_copy(update={"rx_id": status.prescription.rx_id})
        write_prescription_row(session, pump, rx, actor=actor, now=entry.performed_at)
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
        prescription_changed=rx_changed,
        analysis_done=status is not None,
    )
    if charges.warnings:  # the coverage pre-check's findings travel with the refill's warnings
        refill.warnings = [*refill.warnings, *(f"billing:{w.code}: {w.message}" for w in charges.warnings)]
        session.add(refill)
    if status is not None:
        store_status(session, pump, status, read_at=read_at or now, settings=settings, actor=actor)
    return result


def _plan(
    engine: Engine, serial: str, entry: RefillEntry, visit_key: str, settings: Settings, actor: Actor, now: datetime
) -> _Plan:
    plan: _Plan | None = None
    with _rolled_back(engine) as session:
        pump = get_pump(session, serial)
        assert pump.id is not None  # noqa: S101
        family = PumpFamily(pump.family)
        if entry.prescription is not None:
            if family is not PumpFamily.PROGRAMMABLE:
                raise RuleViolationError("a constant-flow pump takes no prescription", field="prescription")
            check_prescription_writable(entry.prescription)
        rx_changed = entry.prescription is not None and prescription_differs(session, pump, entry.prescription)
        result = _record_all(session, serial, entry, visit_key=visit_key, settings=settings, actor=actor, now=now)
        plan = _Plan(family, pump.id, result, rx_changed)
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
    if plan.result.replayed:
        return plan.result
    if plan.family is PumpFamily.CONSTANT_FLOW:
        return _commit(
            engine, serial, entry, visit_key=visit_key, digest=digest, settings=settings, actor=actor, now=now
        )
    url = device_url or settings.device_url
    with programmer_link(url, clock=clock) as client:
        client.link(serial)
        before = client.status()
        continuity = check_continuity(engine, plan.pump_id, before, actor=actor, now=clock.now(), client=client)
        for other in _unfinished(engine, plan.pump_id, visit_key):
            settle_unfinished(client, other)  # raises unless it never reached the pump
            _abort(engine, other, actor, clock.now())
        visit = _writing_visit(engine, plan.pump_id, visit_key, digest, before, actor, now)
        crashpoint("before_device_write")
        written = write_pump(
            client,
            visit,
            before,
            fill_volume_ml=entry.fill_volume_ml,
            returned_volume_ml=entry.returned_volume_ml,
            drug=_drug_in_pump(plan.result),
            new_prescription=entry.prescription if plan.rx_changed else None,
        )
        crashpoint("after_device_write")
        after = client.status()
        read_at = clock.now()
        check_readback(written, before, after, fill_volume_ml=entry.fill_volume_ml)
        if entry.prescription is not None and plan.rx_changed:
            check_prescription(after, entry.prescription)
        with transaction(engine) as session:
            stored_to = log_cursor(session, plan.pump_id)
        # Everything the pump logged since the last download, not only since this visit began.
        log = client.read_log(min(stored_to, visit.log_cursor or 0))
    with transaction(engine) as session:
        store_log_entries(session, plan.pump_id, log.entries, actor=actor, now=read_at)
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
        read_at=read_at,
        warnings=(*continuity, *written.warnings, *_pocket_fill_warnings(entry, before)),
    )


def _unfinished(engine: Engine, pump_id: int, visit_key: str) -> list[Visit]:
    with transaction(engine) as session:
        rows = session.exec(
            select(Visit).where(Visit.pump_id == pump_id, Visit.state == "writing", Visit.visit_key != visit_key)
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def _abort(engine: Engine, visit: Visit, actor: Actor, now: datetime) -> None:
    """An unfinished visit whose write never reached the pump is abandoned, on the record."""
    with transaction(engine) as session:
        row = session.get(Visit, visit.id)
        assert row is not None  # noqa: S101
        row.state, row.updated_at, row.updated_by = "aborted", now, actor.user
        session.add(row)


def _drug_in_pump(result: RefillResult) -> DrugInPump:
    """What the pump is told it holds: the first active drug at the concentration the fill computed."""
    for component in result.components:
        if get_drug(component.drug_id).amount_basis is AmountBasis.VEHICLE:
            continue
        return DrugInPump(
            name=component.drug_id,
            conc_mg_per_ml=component.conc_mg_per_ml,
            conc_usp_u_per_ml=component.conc_usp_u_per_ml,
        )
    return DrugInPump(name=result.components[0].drug_id)


def _pocket_fill_warnings(entry: RefillEntry, before: PumpStatus) -> list[str]:
    """Maino 2017: a discrepancy over 1 mL (20 mL pumps) or 2 mL (40 mL pumps) may be a pocket fill."""
    threshold = get_pump_model(before.model_id).pocket_fill_threshold_ml
    missing = before.reservoir_ml - entry.returned_volume_ml
    if threshold is None or missing <= threshold:
        return []
    return [
        f"pocket_fill_suspected: the pump expected {before.reservoir_ml:.2f} mL but "
        f"{entry.returned_volume_ml:.2f} mL came back (part of the previous fill in the pocket, "
        "or incomplete aspiration)"
    ]


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
    read_at: datetime | None = None,
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
            read_at=read_at,
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
