"""Every visit that is not a refill: analysis only, reprogramming only, flush only, and an abandoned visit.

Each is recorded exactly once with the refill's rules: an idempotency key given or derived from
the request's content (kind, pump, every field but the key), a :class:`Visit` row with that key
and the content's digest, and a retry that returns the stored visit with ``replayed: true``; a
key reused for different content is a conflict. Each stores its device log (the pump's entries
for a programmable pump, a service entry for every kind), its findings and its charges in the
transaction that marks the visit committed (or abandoned).

- **Analysis** interrogates the pump (status, the new part of its log, a replanned due date
  through :func:`~.interrogation.store_status`) and bills 62367 where the rules say so.
- **Reprogramming** writes a new prescription with the refill's discipline: the visit row in
  ``writing`` with the write's ``request_id`` and the log cursor is committed *before* ``RX_WRITE``
  is sent; a retry asks the pump's log whether that write landed. The new dose is judged at the
  pump's new planning rate by the refill's dose guards (a dose above the label maximum is a hard
  stop needing an override). The read-back replans the due date. Billed 62368 where the rules say so.
- **Flush** writes nothing to a pump; it records what was injected (heparinised saline in USP
  units, saline in mL) with the refill's drug checks (route, expiry) and bills 96523 as the day's
  sole service (R3); the flush agents are pump maintenance (R11).
- **Abandon** closes a visit that was started and given up, with a reason: nothing is billed
  (the rule table has no code for a discontinued pump visit). A visit whose write may have reached
  the pump cannot be abandoned: its request must be retried so the pump's log settles it.
"""

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pump_service.billing import compute_charges
from pump_service.devices import check_prescription_writable, is_simulated, programmer_link
from pump_service.domain.findings import Finding, FindingCode, HardStopError, Override, Tier, unresolved_hard_stops
from pump_service.domain.planning_rate import PlanningRate, planning_rate
from pump_service.domain.refill_plan import FUTURE_TOLERANCE, PlannedComponent, judge_doses
from pump_service.domain.reservoir import daily_volume_ml
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, Patient, Pump, Refill, RefillComponent
from pump_service.persistence.visit_models import Visit, VisitKind, VisitState
from pump_service.services.actor import Actor
from pump_service.services.charges.clinic_billing import billing_reference
from pump_service.services.charges.recording import store_charge_set
from pump_service.services.charges.visit_facts import (
    FlushedDrug,
    ServiceDone,
    service_date_of,
    service_visit_facts,
)
from pump_service.services.contracts import BillingEntry, FindingResult, OverrideEntry, OverrideResult
from pump_service.services.pumps.registry import (
    check_prescription_fits,
    get_pump,
    prescription_differs,
    write_prescription_row,
)
from pump_service.services.pumps.state import prescription_rates, pump_id_of
from pump_service.services.scheduling.booking import release_attended
from pump_service.services.scheduling.clinics import pump_clinic
from pump_service.services.visits.continuity import check_continuity
from pump_service.services.visits.contracts import (
    AbandonEntry,
    AnalysisEntry,
    FlushEntry,
    InjectedResult,
    ReprogrammingEntry,
    VisitResult,
)
from pump_service.services.visits.cosignatures import direct_override
from pump_service.services.visits.crashpoints import crashpoint
from pump_service.services.visits.device_writes import check_prescription, settle_unfinished, write_prescription_once
from pump_service.services.visits.interrogation import interrogate, log_cursor, store_log_entries, store_status
from pump_service.services.visits.refill_views import visit_charge_lines
from pump_service.services.visits.writing_visits import abort_visit, unfinished_visits
from pump_service.settings import Settings
from schemas.clock import Clock
from schemas.drug import AmountBasis
from schemas.drug_catalogue import get_drug
from schemas.prescription import ContinuousPrescription, StepsPrescription, StoppedPrescription
from schemas.pump import DeliveryRoute, PumpFamily
from schemas.pump_catalogue import get_pump_model
from schemas.status import PumpStatus

__all__ = ["abandon_visit", "record_analysis", "record_flush", "record_reprogramming", "visit_key_of"]

AnyPrescription = ContinuousPrescription | StepsPrescription | StoppedPrescription
# Heparinised saline and saline flush an access port; anything else is not a flush agent.
_FLUSH_DRUGS = frozenset({"heparin"})


@dataclass(frozen=True, slots=True)
class _Call:
    """One request: the pump, the visit's kind, key and content digest, who and when."""

    serial: str
    kind: VisitKind
    visit_key: str
    digest: str
    performed_at: datetime
    settings: Settings
    actor: Actor
    now: datetime


def visit_key_of(kind: VisitKind, serial: str, entry: BaseModel) -> tuple[str, str]:
    """The visit's idempotency key (the entry's, or derived from its content) and the content's digest."""
    content = entry.model_dump(mode="json", exclude={"idempotency_key"})
    blob = json.dumps({"kind": kind.value, "serial": serial, "entry": content}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(blob.encode()).hexdigest()
    key = getattr(entry, "idempotency_key", None) or f"{kind.value}-{digest[:40]}"
    return key, digest


def _call(
    kind: VisitKind,
    serial: str,
    entry: BaseModel,
    performed_at: datetime,
    settings: Settings,
    actor: Actor,
    now: datetime,
) -> _Call:
    """The request's call; refuses a visit dated in the future (past the stations' clock tolerance).

    Raises:
        RuleViolationError: ``performed_at`` in the future.
    """
    if performed_at > now + FUTURE_TOLERANCE:
        raise RuleViolationError(f"performed_at {performed_at.isoformat()} is in the future", field="performed_at")
    key, digest = visit_key_of(kind, serial, entry)
    return _Call(serial, kind, key, digest, performed_at, settings, actor, now)


def _visit(session: Session, visit_key: str) -> Visit | None:
    return session.exec(select(Visit).where(Visit.visit_key == visit_key)).first()


def _stored(session: Session, call: _Call) -> VisitResult | None:
    """The stored visit if this request was already recorded (replayed), else None (a visit in ``writing`` resumes).

    Raises:
        ConflictError: the key was used for a different request (any kind, a refill included).
    """
    visit = _visit(session, call.visit_key)
    if visit is None:
        return None
    if visit.request_digest != call.digest:
        raise ConflictError(f"idempotency key {call.visit_key} was already used for a different visit")
    if visit.result is None:
        return None
    return _replayed(session, visit)


def _replayed(session: Session, visit: Visit) -> VisitResult:
    """The stored visit's result as a replay, with its charge events as they are stored now."""
    return VisitResult.model_validate(
        {**(visit.result or {}), "replayed": True, "charges": visit_charge_lines(session, visit.visit_key)}
    )


def _require_programmable(pump: Pump, what: str) -> None:
    if pump.family is not PumpFamily.PROGRAMMABLE:
        raise RuleViolationError(
            f"{pump.serial} is a constant-flow pump: it has no electronics for {what}", field="serial"
        )


def _override(entry: OverrideEntry | None, actor: Actor, now: datetime) -> Override | None:
    """The acting physician's own override (see :func:`direct_override`).

    Raises:
        PermissionDeniedError: the acting user's role may not override hard stops.
    """
    return direct_override(entry, actor, now)


def _require_committable(findings: tuple[Finding, ...], override: Override | None) -> None:
    """Raises: HardStopError: a hard stop the request's override does not cover (nothing written or stored)."""
    unresolved = unresolved_hard_stops(findings, override)
    if unresolved:
        raise HardStopError(unresolved, findings)


def _device_findings(warnings: tuple[str, ...], status: PumpStatus | None = None) -> tuple[Finding, ...]:
    found = [Finding(FindingCode.DEVICE, Tier.WARNING, warning) for warning in warnings]
    for alarm in status.alarms if status is not None else ():
        found.append(
            Finding(
                FindingCode.DEVICE,
                Tier.WARNING,
                f"the pump reports alarm {alarm.code.value} since {alarm.since_at.isoformat()}",
                {"alarm": alarm.code.value},
            )
        )
    return tuple(found)


def _charges(
    session: Session, call: _Call, pump: Pump, billing: BillingEntry, done: ServiceDone, *, store: bool
) -> tuple[Finding, ...]:
    """Compute the visit's charges (and store them when ``store``); the billing warnings as findings.

    Raises:
        RuleViolationError, BillingDataError, ConflictError: as ``record_visit_charges``.
    """
    service_date = service_date_of(session, pump, call.performed_at, call.settings)
    reference, clinic_billing = billing_reference(session, pump, call.settings, service_date)
    facts = service_visit_facts(
        session,
        visit_key=call.visit_key,
        pump=pump,
        performed_at=call.performed_at,
        billing=billing,
        done=done,
        settings=call.settings,
        actor=call.actor,
        clinic_billing=clinic_billing,
    )
    charge_set = compute_charges(facts, reference) if facts is not None else None
    if not store:
        return ()
    charges = store_charge_set(
        session,
        charge_set,
        visit_key=call.visit_key,
        refill_id=None,
        clinic_id=clinic.id if (clinic := pump_clinic(session, pump, call.settings)) is not None else None,
        actor=call.actor,
        now=call.now,
    )
    findings = tuple(
        Finding(FindingCode.BILLING, Tier.WARNING, f"{w.code}: {w.message}", {"rule": w.rule}) for w in charges.warnings
    )
    return findings


def _service_log(session: Session, pump: Pump, call: _Call, entry_type: str, data: dict[str, object]) -> None:
    session.add(
        DeviceLogRecord(
            pump_id=pump_id_of(pump),
            source="service",
            log_epoch=pump.log_epoch,
            entry_type=entry_type,
            device_time_at=None,
            recorded_at=call.now,
            data={"visit_key": call.visit_key, "kind": call.kind.value, **data},
            actor=call.actor.user,
            station_id=call.actor.station_id,
        )
    )


def _finish(
    session: Session,
    call: _Call,
    pump: Pump,
    *,
    state: VisitState,
    findings: tuple[Finding, ...],
    override: Override | None,
    **fields: object,
) -> VisitResult:
    """The visit's row marked ``state`` with its result, in the caller's transaction; returns the result."""
    result = VisitResult.model_validate(
        {
            "visit_key": call.visit_key,
            "kind": call.kind,
            "state": state,
            "pump_serial": pump.serial,
            "performed_at": call.performed_at,
            "replayed": False,
            "findings": [FindingResult.model_validate(f.as_dict()) for f in findings],
            "warnings": [f"{f.code.value}: {f.message}" for f in findings if f.tier is not Tier.INFO],
            "override": OverrideResult.model_validate(override.as_dict()) if override is not None else None,
            **fields,
        }
    )
    visit = _visit(session, call.visit_key)
    if visit is None:
        visit = Visit(
            visit_key=call.visit_key,
            pump_id=pump_id_of(pump),
            kind=call.kind.value,
            state=state.value,
            request_digest=call.digest,
            started_at=call.now,
            started_by=call.actor.user,
            station_id=call.actor.station_id,
            updated_at=call.now,
            updated_by=call.actor.user,
        )
    visit.state = state.value
    visit.performed_at = call.performed_at
    visit.result = result.model_dump(mode="json", exclude={"charges", "replayed"})
    visit.simulated = result.simulated
    visit.facts = {**visit.facts, "findings": [f.as_dict() for f in findings]}
    visit.updated_at, visit.updated_by = call.now, call.actor.user
    session.add(visit)
    if state is VisitState.COMMITTED:
        release_attended(
            session, pump, at=call.performed_at, what=f"a {call.kind.value}", actor=call.actor, now=call.now
        )
    session.flush()
    return result.model_copy(update={"charges": visit_charge_lines(session, call.visit_key)})


# --- analysis -------------------------------------------------------------------------------------


def record_analysis(
    engine: Engine,
    serial: str,
    entry: AnalysisEntry,
    *,
    settings: Settings,
    clock: Clock,
    actor: Actor,
    device_url: str | None = None,
) -> VisitResult:
    """Record an analysis-only visit: interrogate the pump, store its log, replan, bill it, once.

    Raises:
        NotFoundError: no such pump.
        RuleViolationError: a constant-flow pump (nothing to analyse), or a billing fact refused.
        ConflictError: the idempotency key names a different request.
        DeviceError: the programmer failed (what was read is kept; retry the same request).
    """
    call = _call(VisitKind.ANALYSIS, serial, entry, entry.performed_at, settings, actor, clock.now())
    done = ServiceDone(analysis_done=True)
    with transaction(engine) as session:
        pump = get_pump(session, serial)
        stored = _stored(session, call)
        if stored is not None:
            return stored
        _require_programmable(pump, "an analysis")
        _charges(session, call, pump, entry.billing, done, store=False)  # a refused fact stops it here
    url = device_url or settings.device_url
    reading = interrogate(engine, url, settings=settings, clock=clock, actor=actor, pump_serial=serial)
    findings = _device_findings(reading.warnings)
    findings += tuple(
        Finding(FindingCode.DEVICE, Tier.WARNING, f"the pump reports alarm {code}", {"alarm": code})
        for code in reading.alarms
    )
    with transaction(engine) as session:
        pump = get_pump(session, serial, for_update=True)
        stored = _stored(session, call)
        if stored is not None:
            return stored
        billing = _charges(session, call, pump, entry.billing, done, store=True)
        _service_log(session, pump, call, "ANALYSIS_RECORDED", {"reservoir_ml": reading.reservoir_ml})
        return _finish(
            session,
            call,
            pump,
            state=VisitState.COMMITTED,
            findings=findings + billing,
            override=None,
            reservoir_ml=reading.reservoir_ml,
            planning_rate_ml_per_day=pump.planning_rate_ml_per_day,
            next_due_at=reading.next_due_at,
            new_log_entries=reading.new_log_entries,
            simulated=is_simulated(url),
        )


# --- reprogramming --------------------------------------------------------------------------------


def _rx_request_id(visit_key: str) -> str:
    # request ids are at most 64 characters; the visit key may be 80: a stable digest of it.
    return "v" + hashlib.sha256(visit_key.encode()).hexdigest()[:32] + "-rx"


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


def _writing_visit(engine: Engine, pump_id: int, call: _Call, before: PumpStatus) -> Visit:
    """The reprogramming's visit row in ``writing``, committed before ``RX_WRITE`` is sent."""
    with transaction(engine) as session:
        visit = _visit(session, call.visit_key)
        if visit is None:
            visit = Visit(
                visit_key=call.visit_key,
                pump_id=pump_id,
                kind=call.kind.value,
                state=VisitState.WRITING.value,
                request_digest=call.digest,
                rx_request_id=_rx_request_id(call.visit_key),
                log_cursor=before.log.next,
                performed_at=call.performed_at,
                facts={"rx_changed": True},
                started_at=call.now,
                started_by=call.actor.user,
                station_id=call.actor.station_id,
                updated_at=call.now,
                updated_by=call.actor.user,
            )
        elif visit.request_digest != call.digest:
            raise ConflictError(f"visit {call.visit_key} was started for a different request")
        visit.updated_at, visit.updated_by = call.now, call.actor.user
        session.add(visit)
        session.flush()
        session.expunge(visit)
    return visit


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
    call = _call(VisitKind.REPROGRAMMING, serial, entry, entry.performed_at, settings, actor, clock.now())
    rx, override = entry.prescription, _override(entry.override, actor, call.now)
    done = ServiceDone(analysis_done=True, prescription_changed=True)
    with transaction(engine) as session:
        pump = get_pump(session, serial, for_update=True)
        stored = _stored(session, call)
        if stored is not None:
            return stored
        resuming = _visit(session, call.visit_key) is not None  # a write that may have landed
        _require_programmable(pump, "a reprogramming")
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
            _require_committable(_dose_findings(contents, rate, body_mass), override)
        _charges(session, call, pump, entry.billing, done, store=False)
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
        _require_committable(findings, override)
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
        stored = _stored(session, call)
        if stored is not None:
            return stored
        written = rx.model_copy(update={"rx_id": after.prescription.rx_id}) if after.prescription is not None else rx
        write_prescription_row(session, pump, written, actor=actor, now=entry.performed_at)
        due_at = store_status(session, pump, after, read_at=read_at, settings=settings, actor=actor)  # replans
        billing = _charges(session, call, pump, entry.billing, done, store=True)
        _service_log(
            session,
            pump,
            call,
            "REPROGRAMMING_RECORDED",
            {"rx_id": written.rx_id, "log_index": changed.index, "overridden": _overridden(findings, override)},
        )
        result = _finish(
            session,
            call,
            pump,
            state=VisitState.COMMITTED,
            findings=_device_findings(continuity, after) + findings + billing,
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


def _overridden(findings: tuple[Finding, ...], override: Override | None) -> list[str]:
    if override is None:
        return []
    return sorted({f.code.value for f in findings if f.tier is Tier.HARD_STOP and f.code in override.codes})


# --- flush ----------------------------------------------------------------------------------------


def _flushed(entry: FlushEntry, pump: Pump, on: date) -> tuple[tuple[FlushedDrug, ...], tuple[Finding, ...]]:
    """What was injected, in billing's terms, and the refill's drug checks on it (route, expiry).

    Raises:
        RuleViolationError: an agent that is not a flush agent, or heparin without its strength.
    """
    agents, findings = [], []
    for index, agent in enumerate(entry.injected):
        drug, field = get_drug(agent.drug_id), f"injected.{index}"
        if drug.amount_basis is not AmountBasis.VEHICLE and drug.drug_id not in _FLUSH_DRUGS:
            raise RuleViolationError(
                f"{drug.name} is not a flush agent: flush with saline or heparinised saline (record a refill to "
                "put a drug into the pump)",
                field=f"{field}.drug_id",
            )
        amount = None
        if drug.amount_basis is AmountBasis.ACTIVITY:
            if agent.conc_usp_u_per_ml is None:
                raise RuleViolationError(
                    f"{drug.name}: give its strength (conc_usp_u_per_ml)", field=f"{field}.conc_usp_u_per_ml"
                )
            amount = agent.conc_usp_u_per_ml * agent.volume_ml
        elif agent.conc_usp_u_per_ml is not None:
            raise RuleViolationError(f"{drug.name} has no USP-unit strength", field=f"{field}.conc_usp_u_per_ml")
        if DeliveryRoute(pump.route) not in drug.routes:
            findings.append(
                Finding(
                    FindingCode.DRUG_ROUTE,
                    Tier.HARD_STOP,
                    f"{drug.name} is not for the {pump.route} route (allowed: "
                    f"{', '.join(r.value for r in drug.routes)})",
                    {"route": pump.route},
                    f"{field}.drug_id",
                )
            )
        if agent.expires_on is not None and agent.expires_on < on:
            findings.append(
                Finding(
                    FindingCode.DRUG_EXPIRED,
                    Tier.HARD_STOP,
                    f"{drug.name} lot {agent.lot or '?'} expired on {agent.expires_on.isoformat()}",
                    {"expires_on": agent.expires_on.isoformat()},
                    f"{field}.expires_on",
                )
            )
        agents.append(FlushedDrug(drug.drug_id, agent.volume_ml, amount, agent.ndc, agent.lot))
    return tuple(agents), tuple(findings)


def record_flush(
    session: Session, serial: str, entry: FlushEntry, *, settings: Settings, actor: Actor, now: datetime
) -> VisitResult:
    """Record a port/catheter flush only, in the caller's transaction: nothing is written to a pump.

    Raises:
        NotFoundError: no such pump.
        RuleViolationError: not a flush agent, a strength missing, or a billing fact refused.
        HardStopError: a drug not for the pump's route or expired, without an override.
        ConflictError: the idempotency key names a different request.
    """
    call = _call(VisitKind.FLUSH, serial, entry, entry.performed_at, settings, actor, now)
    pump = get_pump(session, serial, for_update=True)
    stored = _stored(session, call)
    if stored is not None:
        return stored
    override = _override(entry.override, actor, now)
    agents, findings = _flushed(entry, pump, service_date_of(session, pump, entry.performed_at, settings))
    _require_committable(findings, override)
    billing = _charges(
        session, call, pump, entry.billing, ServiceDone(port_flush_only=True, flushed=agents), store=True
    )
    _service_log(
        session,
        pump,
        call,
        "FLUSH_RECORDED",
        {
            "site": entry.site.value,
            "injected": [
                {"drug_id": a.drug_id, "volume_ml": a.volume_ml, "amount_usp_u": a.amount_usp_u, "lot": a.lot}
                for a in agents
            ],
            "overridden": _overridden(findings, override),
        },
    )
    return _finish(
        session,
        call,
        pump,
        state=VisitState.COMMITTED,
        findings=findings + billing,
        override=override if findings else None,
        injected=[
            InjectedResult(drug_id=a.drug_id, volume_ml=a.volume_ml, amount_usp_u=a.amount_usp_u, lot=a.lot)
            for a in agents
        ],
    )


# --- abandon --------------------------------------------------------------------------------------


def abandon_visit(
    session: Session, visit_key: str, entry: AbandonEntry, *, settings: Settings, actor: Actor, now: datetime
) -> VisitResult:
    """Close visit ``visit_key`` as abandoned with ``entry.reason``, in the caller's transaction; nothing billed.

    A visit never recorded before is recorded as abandoned (a visit started at the pump and given
    up before anything was stored); a retry of the same abandonment is replayed.

    Raises:
        NotFoundError: no such pump.
        ConflictError: the visit was committed, was started for another pump or kind, may have
            written the pump (retry its own request instead), or was abandoned for another reason.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,80}", visit_key):
        raise RuleViolationError("a visit key is 8-80 letters, digits, '_' or '-'", field="visit_key")
    kind = VisitKind(entry.kind)
    call = replace(_call(kind, entry.pump_serial, entry, entry.performed_at, settings, actor, now), visit_key=visit_key)
    pump = get_pump(session, entry.pump_serial, for_update=True)
    visit = _visit(session, visit_key)
    if visit is not None:
        if visit.state == VisitState.ABANDONED.value:
            if visit.result is None or visit.facts.get("abandon_digest") != call.digest:
                raise ConflictError(f"visit {visit_key} was already abandoned with a different request")
            return _replayed(session, visit)
        if visit.pump_id != pump_id_of(pump) or visit.kind != call.kind.value:
            raise ConflictError(f"visit {visit_key} is a {visit.kind} visit of another pump or kind")
        if visit.state == VisitState.WRITING.value:
            raise ConflictError(
                f"visit {visit_key} may have written the pump: retry its own request (same idempotency key) so the "
                "pump's log settles it; it cannot be abandoned"
            )
        if visit.state != VisitState.OPEN.value:
            raise ConflictError(f"visit {visit_key} is {visit.state}: only an open visit can be abandoned")
    elif session.exec(select(Refill).where(Refill.idempotency_key == visit_key)).first() is not None:
        raise ConflictError(f"visit {visit_key} was recorded as a refill: void its charges instead")
    _service_log(session, pump, call, "VISIT_ABANDONED", {"reason": entry.reason})
    result = _finish(
        session,
        call,
        pump,
        state=VisitState.ABANDONED,
        findings=(),
        override=None,
        abandon_reason=entry.reason,
    )
    row = _visit(session, visit_key)
    if row is None:
        raise NotFoundError(f"visit {visit_key} was not stored")
    row.abandon_reason = entry.reason
    row.facts = {**row.facts, "abandon_digest": call.digest}
    session.add(row)
    return result
