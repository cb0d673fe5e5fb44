"""Every visit that is not a refill: analysis only, reprogramming only, flush only, and an abandoned visit.

Each is recorded exactly once with the refill's rules: an idempotency key given or derived from
the request's content (kind, pump, every field but the key), a :class:`Visit` row with that key
and the content's digest, and a retry that returns the stored visit with ``replayed: true``; a
key reused for different content is a conflict. Each stores its device log (the pump's entries
for a programmable pump, a service entry for every kind), its findings and its charges in the
transaction that marks the visit committed (or abandoned).

- **Analysis** interrogates the pump (status, the new part of its log, a replanned due date
  through :func:`~.interrogation.store_status`) and bills 62367 where the rules say so.
- **Reprogramming** (``reprogramming_visit.py``) writes a new prescription with the refill's
  discipline; its module says how.
- **Flush** writes nothing to a pump; it records what was injected (heparinised saline in USP
  units, saline in mL) with the refill's drug checks (route, expiry) and bills 96523 as the day's
  sole service (R3); the flush agents are pump maintenance (R11).
- **Abandon** closes a visit that was started and given up, with a reason: nothing is billed
  (the rule table has no code for a discontinued pump visit). A visit whose write may have reached
  the pump cannot be abandoned: its request must be retried so the pump's log settles it.
"""

import re
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from pump_service.devices import is_simulated
from pump_service.domain.findings import Finding, FindingCode, Tier
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Pump, Refill
from pump_service.persistence.visit_models import VisitKind, VisitState
from pump_service.services.actor import Actor
from pump_service.services.charges.visit_facts import FlushedDrug, ServiceDone, service_date_of
from pump_service.services.pumps.registry import get_pump
from pump_service.services.pumps.state import pump_id_of
from pump_service.services.visits.contracts import AbandonEntry, AnalysisEntry, FlushEntry, InjectedResult, VisitResult
from pump_service.services.visits.cosignatures import direct_override
from pump_service.services.visits.interrogation import interrogate
from pump_service.services.visits.reprogramming_visit import record_reprogramming
from pump_service.services.visits.visit_recording import (
    device_findings,
    find_visit,
    finish_visit,
    log_service_entry,
    new_call,
    overridden_codes,
    replayed_result,
    require_committable,
    require_programmable,
    stored_result,
    visit_charges,
    visit_key_of,
)
from pump_service.settings import Settings
from schemas.clock import Clock
from schemas.drug import AmountBasis
from schemas.drug_catalogue import get_drug
from schemas.pump import DeliveryRoute

__all__ = ["abandon_visit", "record_analysis", "record_flush", "record_reprogramming", "visit_key_of"]

# Heparinised saline and saline flush an access port; anything else is not a flush agent.
_FLUSH_DRUGS = frozenset({"heparin"})


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
    call = new_call(VisitKind.ANALYSIS, serial, entry, entry.performed_at, settings, actor, clock.now())
    done = ServiceDone(analysis_done=True)
    with transaction(engine) as session:
        pump = get_pump(session, serial)
        stored = stored_result(session, call)
        if stored is not None:
            return stored
        require_programmable(pump, "an analysis")
        visit_charges(session, call, pump, entry.billing, done, store=False)  # a refused fact stops it here
    url = device_url or settings.device_url
    reading = interrogate(engine, url, settings=settings, clock=clock, actor=actor, pump_serial=serial)
    findings = device_findings(reading.warnings)
    findings += tuple(
        Finding(FindingCode.DEVICE, Tier.WARNING, f"the pump reports alarm {code}", {"alarm": code})
        for code in reading.alarms
    )
    with transaction(engine) as session:
        pump = get_pump(session, serial, for_update=True)
        stored = stored_result(session, call)
        if stored is not None:
            return stored
        billing = visit_charges(session, call, pump, entry.billing, done, store=True)
        log_service_entry(session, pump, call, "ANALYSIS_RECORDED", {"reservoir_ml": reading.reservoir_ml})
        return finish_visit(
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
    call = new_call(VisitKind.FLUSH, serial, entry, entry.performed_at, settings, actor, now)
    pump = get_pump(session, serial, for_update=True)
    stored = stored_result(session, call)
    if stored is not None:
        return stored
    override = direct_override(entry.override, actor, now)
    agents, findings = _flushed(entry, pump, service_date_of(session, pump, entry.performed_at, settings))
    require_committable(findings, override)
    billing = visit_charges(
        session, call, pump, entry.billing, ServiceDone(port_flush_only=True, flushed=agents), store=True
    )
    log_service_entry(
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
            "overridden": overridden_codes(findings, override),
        },
    )
    return finish_visit(
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
    call = replace(
        new_call(kind, entry.pump_serial, entry, entry.performed_at, settings, actor, now), visit_key=visit_key
    )
    pump = get_pump(session, entry.pump_serial, for_update=True)
    visit = find_visit(session, visit_key)
    if visit is not None:
        if visit.state == VisitState.ABANDONED.value:
            if visit.result is None or visit.facts.get("abandon_digest") != call.digest:
                raise ConflictError(f"visit {visit_key} was already abandoned with a different request")
            return replayed_result(session, visit)
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
    log_service_entry(session, pump, call, "VISIT_ABANDONED", {"reason": entry.reason})
    result = finish_visit(
        session,
        call,
        pump,
        state=VisitState.ABANDONED,
        findings=(),
        override=None,
        abandon_reason=entry.reason,
    )
    row = find_visit(session, visit_key)
    if row is None:
        raise NotFoundError(f"visit {visit_key} was not stored")
    row.abandon_reason = entry.reason
    row.facts = {**row.facts, "abandon_digest": call.digest}
    session.add(row)
    return result
