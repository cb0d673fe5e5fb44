"""A refill visit end to end: plan once, stop on hard stops, write the pump once, commit everything together.

Order, and why:

1. **Plan.** The stored pump and the request become one :class:`RefillPlan` (for a programmable
   pump, after its register has been read, because the return is judged against it). Every
   refusal and every hard stop surfaces here, *before* the pump is touched; the billing facts
   are pre-checked from the same plan. A replayed request (same idempotency key and content)
   returns the stored refill.
2. **Visit row.** For a programmable pump the visit is committed in state ``writing`` with the
   ``request_id`` of each write, the pump log's cursor and the register read before the write,
   *before* anything is sent.
3. **Device.** ``REFILL`` (and ``RX_WRITE`` for a dose change) go through the programmer; first,
   the pump log after the cursor is searched for those request ids, so a retry after a crash
   never writes twice. ``STATUS`` is read back and must match.
4. **Commit.** The plan is stored: the refill, the pump's state, the device log, the next due date
   and appointment and the charge events, in one transaction that also marks the visit
   ``committed``. If the pump changed since the plan (another station), nothing is stored.

A constant-flow pump has no steps 2 and 3: its plan and its commit are one transaction on the
locked pump, so its charges, computed with the plan, are stored as computed.

If the process dies anywhere, a retry of the same request (same idempotency key) resumes: a
visit in ``writing`` is reconciled from the pump's log and judged against the register stored
before its write, and a committed visit is replayed.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from pump_service.billing import ChargeSet
from pump_service.devices import check_prescription_writable, is_simulated, programmer_link
from pump_service.domain.access import Permission, allows
from pump_service.domain.findings import Finding, FindingCode, Tier
from pump_service.domain.refill_plan import RefillPlan
from pump_service.domain.second_check import second_check_findings
from pump_service.errors import ConflictError, PermissionDeniedError, RuleViolationError
from pump_service.persistence.db import read_transaction, transaction
from pump_service.persistence.models import Pump
from pump_service.persistence.visit_models import Visit, VisitState
from pump_service.services.actor import Actor
from pump_service.services.charges.recording import (
    plan_visit_charges,
    record_visit_charges,
    store_planned_charges,
)
from pump_service.services.contracts import RefillEntry, RefillResult
from pump_service.services.pumps.registry import (
    check_prescription_fits,
    get_pump,
    prescription_differs,
    write_prescription_row,
)
from pump_service.services.pumps.state import hold_pump_rows, pump_id_of
from pump_service.services.visits.continuity import check_continuity
from pump_service.services.visits.cosignatures import Signatures, resolve_signatures
from pump_service.services.visits.crashpoints import crashpoint
from pump_service.services.visits.device_writes import (
    check_prescription,
    check_readback,
    settle_unfinished,
    write_pump,
)
from pump_service.services.visits.interrogation import log_cursor, store_log_entries, store_status
from pump_service.services.visits.refill_record import (
    PreparedRows,
    plan_for,
    planned_component_rows,
    refill_key,
    refill_row,
    replayed_result,
    store_refill,
)
from pump_service.services.visits.refill_views import refill_result
from pump_service.services.visits.writing_visits import (
    VisitRequest,
    abort_visit,
    drug_in_pump,
    new_visit,
    register_before,
    unfinished_visits,
    writing_visit,
)
from pump_service.settings import Settings
from schemas.clock import Clock
from schemas.pump import DeliveryRoute, PumpFamily
from schemas.status import PumpStatus

__all__ = ["complete_visit", "plan_visit"]


def _rx_changed(session: Session, pump: Pump, entry: RefillEntry, visit: Visit | None) -> bool:
    """Whether the request writes a new prescription; refuses one the pump or the protocol cannot take."""
    if entry.prescription is None:
        return False
    if pump.family is not PumpFamily.PROGRAMMABLE:
        raise RuleViolationError("a constant-flow pump takes no prescription", field="prescription")
    check_prescription_writable(entry.prescription)
    check_prescription_fits(pump, entry.prescription)
    # A retry of a visit that already wrote its prescription (an interrogation since may have
    # stored it as the one in force) is still the reprogramming it started as.
    if visit is not None and isinstance(visit.facts.get("rx_changed"), bool):
        return bool(visit.facts["rx_changed"])
    return prescription_differs(session, pump, entry.prescription)


@dataclass(frozen=True, slots=True)
class _Planned:
    """The plan, whether it changes the prescription, its checked co-signatures and its charges."""

    plan: RefillPlan
    rx_changed: bool
    signatures: Signatures
    charges: ChargeSet | None  # computed with the plan; None: a pump without a patient (not billed)
    visit: Visit | None  # the visit row as the plan found it (None: this is the visit's first attempt)
    rows: PreparedRows  # the refill's rows as billed: stored as they are when nothing changed since


def _plan(session: Session, req: VisitRequest, pump: Pump) -> _Planned:
    """The visit's plan, whether it changes the prescription, its checked co-signatures, its charges.

    The co-signatures are checked here, in the plan's transaction, before the pump is touched:
    the override (a physician's own or co-signed) enters the plan, and a spinal fill without a
    matching second-person check meets a hard stop no override clears. Billing is pre-checked.

    Raises:
        ConflictError: the form was loaded for another version of the pump.
    """
    hold_pump_rows(session, pump)
    expected = req.entry.expected_pump_version
    visit = _visit_row(session, req.visit_key)
    if expected is not None and expected != pump.version and visit is None:  # a retry of this form's visit
        raise ConflictError(
            f"pump {req.serial} changed since the form was loaded (version {expected} -> {pump.version}): "
            "nothing was written; reload the visit"
        )
    signatures = resolve_signatures(
        session, pump, req.entry, actor=req.actor, now=req.now, visit_started_at=visit.started_at if visit else None
    )
    rx_changed = _rx_changed(session, pump, req.entry, visit)
    if rx_changed:
        _require_prescriber(req.actor, req.serial)
    plan = plan_for(
        session,
        pump,
        req.entry,
        settings=req.settings,
        now=req.now,
        rx_changed=rx_changed,
        override=signatures.override,
    )
    plan = plan.with_findings(
        second_check_findings(
            DeliveryRoute(pump.route),
            plan.components,
            signatures.checks,
            fill_volume_ml=req.entry.fill_volume_ml,
            syringe_resolution_ml=req.entry.syringe_resolution_ml,
        )
    )
    rows = PreparedRows(
        refill_row(pump, plan, req.entry, actor=req.actor, now=req.now), planned_component_rows(plan, req.entry)
    )
    charges = plan_visit_charges(
        session,
        visit_key=req.visit_key,
        refill=rows.refill,
        components=rows.components,
        pump=pump,
        entry=req.entry,
        settings=req.settings,
        actor=req.actor,
        prescription_changed=rx_changed,
        analysis_done=pump.family is PumpFamily.PROGRAMMABLE,  # the visit interrogates it
    )
    return _Planned(plan, rx_changed, signatures, charges, visit, rows)


def _visit_row(session: Session, visit_key: str) -> Visit | None:
    return session.exec(select(Visit).where(Visit.visit_key == visit_key)).first()


def _require_prescriber(actor: Actor, serial: str) -> None:
    """A refill that writes a new prescription is a reprogramming: only a role that may prescribe records it.

    Console commands (no role) are run by whoever administers the station, as for every other write.

    Raises:
        PermissionDeniedError: the acting role may not prescribe.
    """
    if actor.role is not None and not allows(actor.role, Permission.PRESCRIBE):
        raise PermissionDeniedError(
            f"the {actor.role.value} role may not change pump {serial}'s prescription: a physician records "
            "this refill, or the refill keeps the prescription in force"
        )


def plan_visit(
    engine: Engine, serial: str, entry: RefillEntry, *, settings: Settings, clock: Clock, actor: Actor
) -> RefillPlan:
    """The refill's plan as it stands now, stored nowhere and sent to no pump (the form's live check).

    For a programmable pump the register is not read: the return is judged against the residual
    expected from the prescription; the visit itself judges it against the register.

    Raises:
        NotFoundError, RuleViolationError: as :func:`complete_visit`.
    """
    now = clock.now()
    visit_key, digest = refill_key(serial, entry)
    with transaction(engine) as session:
        pump = get_pump(session, serial)
        return _plan(session, VisitRequest(serial, entry, visit_key, digest, settings, actor, now), pump).plan


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
        HardStopError: a hard stop the request's override does not cover, or a spinal fill without a
            matching second-person check (nothing stored or written).
        PermissionDeniedError: a direct override by a role that may not override, or a new
            prescription by a role that may not prescribe.
        NotFoundError: no such pump.
        ConflictError: the idempotency key names a different request, the pump changed meanwhile or
            since the form was loaded (``expected_pump_version``), or a co-signature was spent meanwhile.
        DeviceError: the programmer failed or the read-back disagrees (the visit can be retried).
        DeviceOutcomeUnknownError: a write went out without a verified answer (retry to reconcile).
    """
    now = clock.now()
    visit_key, digest = refill_key(serial, entry)
    req = VisitRequest(serial, entry, visit_key, digest, settings, actor, now)
    stored: RefillResult | None = None
    with transaction(engine) as session:
        pump = get_pump(session, serial, for_update=True)  # a twin commits before or after this plan
        replayed = replayed_result(session, serial, entry)
        if replayed is not None:
            return replayed
        pump_id, family = pump_id_of(pump), PumpFamily(pump.family)
        planned = _plan(session, req, pump)
        plan, rx_changed, signatures = planned.plan, planned.rx_changed, planned.signatures
        if family is PumpFamily.CONSTANT_FLOW:
            # No device to write: planned and stored in this one transaction, on the pump locked
            # above, so nothing billing reads changed since the plan: its charges are stored as computed.
            plan.require_committable()
            stored = _store_visit(
                session, pump, req, plan, signatures, rx_changed=False, charges=planned, visit=planned.visit
            )
    if stored is not None:
        crashpoint("after_commit")
        return stored
    _require_committable_but_the_register(plan)
    url = device_url or settings.device_url
    with programmer_link(url, clock=clock) as client:
        client.link(serial)
        before = client.status()
        continuity = check_continuity(engine, pump_id, before, actor=actor, now=clock.now(), client=client)
        for other in unfinished_visits(engine, pump_id, visit_key):
            settle_unfinished(client, other)  # raises unless it never reached the pump
            abort_visit(engine, other, actor, clock.now())
        register = register_before(engine, visit_key, before, clock.now())
        plan = plan.with_register(register)
        plan.require_committable()
        visit = writing_visit(engine, pump_id, req, before, register, rx_changed=rx_changed)
        crashpoint("before_device_write")
        written = write_pump(
            client,
            visit,
            before,
            fill_volume_ml=entry.fill_volume_ml,
            returned_volume_ml=entry.returned_volume_ml,
            drug=drug_in_pump(plan),
            new_prescription=entry.prescription if rx_changed else None,
        )
        crashpoint("after_device_write")
        after = client.status()
        read_at = clock.now()
        check_readback(written, before, after, fill_volume_ml=entry.fill_volume_ml)
        if entry.prescription is not None and rx_changed:
            check_prescription(after, entry.prescription)
        with read_transaction(engine) as session:
            stored_to = log_cursor(session, pump_id)
        # Everything the pump logged since the last download, not only since this visit began.
        log = client.read_log(min(stored_to, visit.log_cursor or 0))
    with transaction(engine) as session:
        store_log_entries(session, pump_id, log.entries, actor=actor, now=read_at)
    device_findings = (
        *(Finding(FindingCode.DEVICE, Tier.WARNING, warning) for warning in continuity),
        *(Finding(FindingCode.PROGRAMMER_REGISTER, Tier.WARNING, warning) for warning in written.warnings),
    )
    return _commit(
        engine,
        req,
        plan,
        signatures,
        rx_changed=rx_changed,
        status=after,
        read_at=read_at,
        extra_findings=device_findings,
        simulated=is_simulated(url),
    )


def _require_committable_but_the_register(plan: RefillPlan) -> None:
    """Stop before the programmer is even linked, unless only the pump's register can settle it.

    Raises:
        HardStopError: a hard stop the register cannot clear and the override does not cover.
    """
    if any(f.code is not FindingCode.VOLUME_DISCREPANCY for f in plan.unresolved):
        plan.require_committable()


def _commit(
    engine: Engine,
    req: VisitRequest,
    plan: RefillPlan,
    signatures: Signatures,
    *,
    rx_changed: bool,
    status: PumpStatus | None = None,
    read_at: datetime | None = None,
    extra_findings: tuple[Finding, ...] = (),
    simulated: bool = False,
) -> RefillResult:
    """Store the plan, the read-back, the charges and the visit's end in one transaction.

    ``simulated``: the programmer was the simulator, so the refill is marked as never having reached a pump.
    """
    with transaction(engine) as session:
        # Lock first, then look for a twin: a concurrent identical request that committed while
        # this one waited for the lock is a replay, not a conflict (PostgreSQL READ COMMITTED).
        pump = get_pump(session, req.serial, for_update=True)
        replayed = replayed_result(session, req.serial, req.entry)
        if replayed is not None:
            return replayed
        if pump.version != plan.pump_version:
            raise ConflictError(
                f"pump {req.serial} changed while this refill was being planned (version {plan.pump_version} -> "
                f"{pump.version}): nothing was stored; start the visit again"
            )
        hold_pump_rows(session, pump)
        result = _store_visit(
            session,
            pump,
            req,
            plan,
            signatures,
            rx_changed=rx_changed,
            status=status,
            read_at=read_at,
            extra_findings=extra_findings,
            simulated=simulated,
            visit=_visit_row(session, req.visit_key),
        )
    crashpoint("after_commit")
    return result


def _store_visit(
    session: Session,
    pump: Pump,
    req: VisitRequest,
    plan: RefillPlan,
    signatures: Signatures,
    *,
    rx_changed: bool,
    status: PumpStatus | None = None,
    read_at: datetime | None = None,
    extra_findings: tuple[Finding, ...] = (),
    simulated: bool = False,
    charges: _Planned | None = None,
    visit: Visit | None = None,
) -> RefillResult:
    """Store the plan on the locked ``pump`` (the version it was planned from) in the caller's transaction.

    ``charges``: the plan's charges, still valid (planned in this transaction); else computed again
    from the stored refill (a programmable visit, planned before the device was written).
    ``visit``: the visit's row as read in this transaction (None: not stored yet).
    """
    entry, actor, now = req.entry, req.actor, req.now
    refill = store_refill(
        session,
        pump,
        plan,
        entry,
        actor=actor,
        settings=req.settings,
        now=now,
        extra_findings=extra_findings,
        signatures=signatures,
        prepared=charges.rows if charges is not None else None,
    )
    refill.simulated = simulated
    if entry.prescription is not None and rx_changed:
        rx = entry.prescription
        if status is not None and status.prescription is not None:
            rx = rx.model_copy(update={"rx_id": status.prescription.rx_id})
        write_prescription_row(session, pump, rx, actor=actor, now=entry.performed_at)
    if charges is not None:
        billed = store_planned_charges(
            session,
            charges.charges,
            visit_key=req.visit_key,
            refill=refill,
            pump=pump,
            settings=req.settings,
            actor=actor,
            now=now,
        )
    else:
        billed = record_visit_charges(
            session,
            visit_key=req.visit_key,
            refill=refill,
            pump=pump,
            entry=entry,
            settings=req.settings,
            actor=actor,
            now=now,
            prescription_changed=rx_changed,
            analysis_done=status is not None,
        )
    if billed.warnings:  # the coverage pre-check's findings travel with the refill's
        billing = [
            Finding(FindingCode.BILLING, Tier.WARNING, f"{w.code}: {w.message}", {"rule": w.rule})
            for w in billed.warnings
        ]
        refill.findings = [*refill.findings, *(f.as_dict() for f in billing)]
        refill.warnings = [*refill.warnings, *(f"billing:{w.code}: {w.message}" for w in billed.warnings)]
        session.add(refill)
    if status is not None:
        store_status(session, pump, status, read_at=read_at or now, settings=req.settings, actor=actor, replan=False)
    _mark_committed(session, pump, req, visit, refill.id, simulated=simulated)
    session.flush()
    crashpoint("mid_commit")
    return refill_result(session, refill)


def _mark_committed(
    session: Session, pump: Pump, req: VisitRequest, visit: Visit | None, refill_id: int | None, *, simulated: bool
) -> None:
    if visit is None:
        visit = new_visit(req.visit_key, req.digest, pump_id_of(pump), VisitState.WRITING, req.actor, req.now)
    elif visit.request_digest != req.digest:
        raise ConflictError(f"idempotency key {req.visit_key} was already used for a different visit")
    visit.state = VisitState.COMMITTED.value
    visit.refill_id = refill_id
    visit.simulated = simulated
    visit.updated_at, visit.updated_by = req.now, req.actor.user
    session.add(visit)
