"""A reprogramming-only visit: a new prescription written to a programmable pump exactly once.

The refill's discipline: the visit row in ``writing`` with the write's ``request_id`` and the log
cursor is committed *before* ``RX_WRITE`` is sent; a retry asks the pump's log whether that write
landed. The new dose is judged at the pump's new planning rate by the refill's dose guards (a dose
above the label maximum is a hard stop needing an override). The read-back replans the due date.
Billed 62368 where the rules say so.
"""

from dataclasses import replace

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pump_service.devices import check_prescription_writable, is_simulated, programmer_link
from pump_service.domain.dose_guards import judge_doses
from pump_service.domain.findings import Finding, FindingCode, Tier
from pump_service.domain.planning_rate import PlanningRate, planning_rate
from pump_service.domain.refill_inputs import PlannedComponent
from pump_service.domain.reservoir import daily_volume_ml
from pump_service.errors import RuleViolationError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Patient, Pump, Refill, RefillComponent
from pump_service.persistence.visit_models import Visit, VisitKind, VisitState
from pump_service.services.actor import Actor
from pump_service.services.charges.visit_facts import ServiceDone
from pump_service.services.pumps.registry import (
    check_prescription_fits,
    get_pump,
    prescription_differs,
    write_prescription_row,
)
from pump_service.services.pumps.state import prescription_rates, pump_id_of
from pump_service.services.visits.continuity import check_continuity
from pump_service.services.visits.contracts import ReprogrammingEntry, VisitResult
from pump_service.services.visits.cosignatures import direct_override
from pump_service.services.visits.crashpoints import crashpoint
from pump_service.services.visits.device_writes import check_prescription, settle_unfinished, write_prescription_once
from pump_service.services.visits.interrogation import log_cursor, store_log_entries, store_status
from pump_service.services.visits.visit_recording import (
    VisitCall,
    device_findings,
    find_visit,
    finish_visit,
    log_service_entry,
    new_call,
    overridden_codes,
    require_committable,
    require_programmable,
    stored_result,
    visit_charges,
)
from pump_service.services.visits.writing_visits import abort_visit, begin_writing, unfinished_visits, write_ids
from pump_service.settings import Settings
from schemas.clock import Clock
from schemas.drug import AmountBasis
from schemas.drug_catalogue import get_drug
from schemas.prescription import ContinuousPrescription, StepsPrescription, StoppedPrescription
from schemas.pump_catalogue import get_pump_model
from schemas.status import PumpStatus

__all__ = ["record_reprogramming"]

AnyPrescription = ContinuousPrescription | StepsPrescription | StoppedPrescription


def _new_rate(session: Session, pump: Pump, rx: AnyPrescription) -> PlanningRate:
    """The planning rate once ``rx`` is in force: its basal plus its allowance (else the registered one)."""
    _, registered = prescription_rates(session, pump_id_of(pump))
    basal = rx.mean_rate_ml_per_day()
    allowance = daily_volume_ml(rx) - basal if getattr(rx, "bolus", None) else registered
    return planning_rate(get_pump_model(pump.model_id), basal_ml_per_day=basal, bolus_allowance_ml_per_day=allowance)


def _contents(session: Session, pump: Pump, status: PumpStatus | None) -> tuple[PlannedComponent, ...] | None:
    """What the pump holds as (drug, concentration): the last recorded fill, else what the pump reports."""
    last = session.exec(
        select(Refill.id).where(Refill.pump_id == pump_id_of(pump)).order_by(col(Refill.performed_at).desc()).limit(1)
    ).first()
    held: list[tuple[str, float | None, float | None]] = []
    if last is not None:
        rows = session.exec(
            select(RefillComponent).where(RefillComponent.refill_id == last).order_by(col(RefillComponent.id))
        ).all()
        held = [(r.drug_id, r.conc_mg_per_ml, r.conc_usp_u_per_ml) for r in rows]
    elif status is not None and status.drug is not None:
        held = [(status.drug.name, status.drug.conc_mg_per_ml, status.drug.conc_usp_u_per_ml)]
    components = []
    for index, (drug_id, mass, activity) in enumerate(held):
        try:
            drug = get_drug(drug_id)
        except (KeyError, ValueError):
            return None  # a drug the catalogue does not know: the dose cannot be judged
        if drug.amount_basis is AmountBasis.VEHICLE:
            continue
        concentration = mass if drug.amount_basis is AmountBasis.MASS else activity
        if concentration is None:
            return None
        components.append(PlannedComponent(index, drug, 0.0, None, concentration, None, None))
    return tuple(components) if held else None


def _dose_findings(
    contents: tuple[PlannedComponent, ...] | None, rate: PlanningRate, body_mass: float | None
) -> tuple[Finding, ...]:
    """The refill's dose guards on what the pump holds at the new planning rate, about ``prescription``."""
    if contents is None:
        return (
            Finding(
                FindingCode.DOSE_UNJUDGEABLE,
                Tier.HARD_STOP,
                "what the pump holds is unknown (no recorded fill, no drug reported by the pump): "
                "the new dose cannot be judged",
                {"planning_rate_ml_per_day": round(rate.rate_ml_per_day, 4)},
                "prescription",
            ),
        )
    at_rate = tuple(
        replace(
            c,
            daily_amount=c.concentration * rate.dosing_rate_ml_per_day if rate.dosing_rate_ml_per_day > 0 else None,
            max_daily_amount=c.concentration * rate.rate_ml_per_day if rate.rate_ml_per_day > 0 else None,
        )
        for c in contents
        if c.concentration is not None
    )
    return tuple(replace(f, field="prescription") for f in judge_doses(at_rate, rate, body_mass))


def _body_mass(session: Session, pump: Pump, given: float | None) -> float | None:
    if given is not None or pump.patient_id is None:
        return given
    patient = session.get(Patient, pump.patient_id)
    return patient.body_mass_kg if patient is not None else None


def _writing_visit(engine: Engine, pump_id: int, call: VisitCall, before: PumpStatus) -> Visit:
    """The reprogramming's visit row in ``writing``, committed before ``RX_WRITE`` is sent."""
    _, rx_id = write_ids(call.visit_key)
    return begin_writing(
        engine,
        visit_key=call.visit_key,
        digest=call.digest,
        pump_id=pump_id,
        actor=call.actor,
        now=call.now,
        what="request",
        kind=call.kind.value,
        rx_request_id=rx_id,
        log_cursor=before.log.next,
        performed_at=call.performed_at,
        facts={"rx_changed": True},
    )


def record_reprogramming(
    engine: Engine,
    serial: str,
    entry: ReprogrammingEntry,
    *,
    settings: Settings,
    clock: Clock,
    actor: Actor,
    device_url: str | None = None,
) -> VisitResult:
    """Write a new prescription to a programmable pump exactly once, read it back, replan, bill it.

    Raises:
        NotFoundError: no such pump.
        RuleViolationError: a constant-flow pump, a prescription the pump or HPP/1 cannot take, or
            the one already in force.
        HardStopError: the new dose above the label maximum (or unjudgeable) without an override.
        ConflictError: the idempotency key names a different request, or another visit wrote the
            pump and was never recorded.
        DeviceError: the programmer failed or the read-back disagrees (retry the same request).
        DeviceOutcomeUnknownError: the write went out without a verified answer (retry to reconcile).
    """
    call = new_call(VisitKind.REPROGRAMMING, serial, entry, entry.performed_at, settings, actor, clock.now())
    rx, override = entry.prescription, direct_override(entry.override, actor, call.now)
    done = ServiceDone(analysis_done=True, prescription_changed=True)
    with transaction(engine) as session:
        pump = get_pump(session, serial, for_update=True)
        stored = stored_result(session, call)
        if stored is not None:
            return stored
        resuming = find_visit(session, call.visit_key) is not None  # a write that may have landed
        require_programmable(pump, "a reprogramming")
        check_prescription_writable(rx)
        check_prescription_fits(pump, rx)
        if not resuming and not prescription_differs(session, pump, rx):
            raise RuleViolationError(
                "this is the prescription in force: nothing to reprogram (record an analysis instead)",
                field="prescription",
            )
        pump_id = pump_id_of(pump)
        rate = _new_rate(session, pump, rx)
        body_mass = _body_mass(session, pump, entry.body_mass_kg)
        contents = _contents(session, pump, None)
        if contents is not None:  # judged before the programmer is even linked
            require_committable(_dose_findings(contents, rate, body_mass), override)
        visit_charges(session, call, pump, entry.billing, done, store=False)
    url = device_url or settings.device_url
    with programmer_link(url, clock=clock) as client:
        client.link(serial)
        before = client.status()
        continuity = check_continuity(engine, pump_id, before, actor=actor, now=clock.now(), client=client)
        for other in unfinished_visits(engine, pump_id, call.visit_key):
            settle_unfinished(client, other)  # raises unless it never reached the pump
            abort_visit(engine, other, actor, clock.now())
        if contents is None:
            with transaction(engine) as session:
                contents = _contents(session, get_pump(session, serial), before)
        findings = _dose_findings(contents, rate, body_mass)
        require_committable(findings, override)
        visit = _writing_visit(engine, pump_id, call, before)
        crashpoint("before_device_write")
        changed = write_prescription_once(client, visit, before, rx)
        crashpoint("after_device_write")
        after = client.status()
        read_at = clock.now()
        check_prescription(after, rx)
        with transaction(engine) as session:
            stored_to = log_cursor(session, pump_id)
        log = client.read_log(min(stored_to, visit.log_cursor or 0))
    with transaction(engine) as session:
        new_entries = store_log_entries(session, pump_id, log.entries, actor=actor, now=read_at)
    with transaction(engine) as session:
        pump = get_pump(session, serial, for_update=True)
        stored = stored_result(session, call)
        if stored is not None:
            return stored
        written = rx.model_copy(update={"rx_id": after.prescription.rx_id}) if after.prescription is not None else rx
        write_prescription_row(session, pump, written, actor=actor, now=entry.performed_at)
        due_at = store_status(session, pump, after, read_at=read_at, settings=settings, actor=actor)  # replans
        billing = visit_charges(session, call, pump, entry.billing, done, store=True)
        log_service_entry(
            session,
            pump,
            call,
            "REPROGRAMMING_RECORDED",
            {"rx_id": written.rx_id, "log_index": changed.index, "overridden": overridden_codes(findings, override)},
        )
        result = finish_visit(
            session,
            call,
            pump,
            state=VisitState.COMMITTED,
            findings=device_findings(continuity, after) + findings + billing,
            override=override if any(f.tier is Tier.HARD_STOP for f in findings) else None,
            prescription=written,
            reservoir_ml=after.reservoir_ml,
            planning_rate_ml_per_day=pump.planning_rate_ml_per_day,
            next_due_at=due_at,
            new_log_entries=new_entries,
            simulated=is_simulated(url),
        )
        crashpoint("mid_commit")
    crashpoint("after_commit")
    return result
