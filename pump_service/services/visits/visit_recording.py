"""What every visit that is not a refill shares: its call, its idempotency, its charges, its row.

A call carries the request's idempotency key (given, or derived from the content) and the
content's digest; a retry finds the stored visit and is replayed, a key reused for different
content is a conflict. :func:`finish_visit` marks the visit's row with its result in the caller's
transaction, beside its service log entry and its charges.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from pump_service.billing import compute_charges
from pump_service.domain.findings import Finding, FindingCode, HardStopError, Override, Tier, unresolved_hard_stops
from pump_service.domain.refill_plan import FUTURE_TOLERANCE
from pump_service.errors import ConflictError, RuleViolationError
from pump_service.persistence.models import DeviceLogRecord, Pump
from pump_service.persistence.visit_models import Visit, VisitKind, VisitState
from pump_service.services.actor import Actor
from pump_service.services.charges.clinic_billing import billing_reference
from pump_service.services.charges.recording import store_charge_set
from pump_service.services.charges.visit_facts import ServiceDone, service_date_of, service_visit_facts
from pump_service.services.contracts import BillingEntry, FindingResult, OverrideResult
from pump_service.services.pumps.state import pump_id_of
from pump_service.services.scheduling.booking import release_attended
from pump_service.services.scheduling.clinics import pump_clinic
from pump_service.services.visits.contracts import VisitResult
from pump_service.services.visits.refill_views import visit_charge_lines
from pump_service.services.visits.writing_visits import new_visit
from pump_service.settings import Settings
from schemas.pump import PumpFamily
from schemas.status import PumpStatus

__all__ = [
    "VisitCall",
    "device_findings",
    "find_visit",
    "finish_visit",
    "log_service_entry",
    "new_call",
    "overridden_codes",
    "replayed_result",
    "require_committable",
    "require_programmable",
    "stored_result",
    "visit_charges",
    "visit_key_of",
]


@dataclass(frozen=True, slots=True)
class VisitCall:
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


def new_call(
    kind: VisitKind,
    serial: str,
    entry: BaseModel,
    performed_at: datetime,
    settings: Settings,
    actor: Actor,
    now: datetime,
) -> VisitCall:
    """The request's call; refuses a visit dated in the future (past the stations' clock tolerance).

    Raises:
        RuleViolationError: ``performed_at`` in the future.
    """
    if performed_at > now + FUTURE_TOLERANCE:
        raise RuleViolationError(f"performed_at {performed_at.isoformat()} is in the future", field="performed_at")
    key, digest = visit_key_of(kind, serial, entry)
    return VisitCall(serial, kind, key, digest, performed_at, settings, actor, now)


def find_visit(session: Session, visit_key: str) -> Visit | None:
    return session.exec(select(Visit).where(Visit.visit_key == visit_key)).first()


def stored_result(session: Session, call: VisitCall) -> VisitResult | None:
    """The stored visit if this request was already recorded (replayed), else None (a visit in ``writing`` resumes).

    Raises:
        ConflictError: the key was used for a different request (any kind, a refill included).
    """
    visit = find_visit(session, call.visit_key)
    if visit is None:
        return None
    if visit.request_digest != call.digest:
        raise ConflictError(f"idempotency key {call.visit_key} was already used for a different visit")
    if visit.result is None:
        return None
    return replayed_result(session, visit)


def replayed_result(session: Session, visit: Visit) -> VisitResult:
    """The stored visit's result as a replay, with its charge events as they are stored now."""
    return VisitResult.model_validate(
        {**(visit.result or {}), "replayed": True, "charges": visit_charge_lines(session, visit.visit_key)}
    )


def require_programmable(pump: Pump, what: str) -> None:
    if pump.family is not PumpFamily.PROGRAMMABLE:
        raise RuleViolationError(
            f"{pump.serial} is a constant-flow pump: it has no electronics for {what}", field="serial"
        )


def require_committable(findings: tuple[Finding, ...], override: Override | None) -> None:
    """Raises: HardStopError: a hard stop the request's override does not cover (nothing written or stored)."""
    unresolved = unresolved_hard_stops(findings, override)
    if unresolved:
        raise HardStopError(unresolved, findings)


def device_findings(warnings: tuple[str, ...], status: PumpStatus | None = None) -> tuple[Finding, ...]:
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


def visit_charges(
    session: Session, call: VisitCall, pump: Pump, billing: BillingEntry, done: ServiceDone, *, store: bool
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


def log_service_entry(session: Session, pump: Pump, call: VisitCall, entry_type: str, data: dict[str, object]) -> None:
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


def finish_visit(
    session: Session,
    call: VisitCall,
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
    visit = find_visit(session, call.visit_key)
    if visit is None:
        visit = new_visit(
            call.visit_key, call.digest, pump_id_of(pump), state, call.actor, call.now, kind=call.kind.value
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


def overridden_codes(findings: tuple[Finding, ...], override: Override | None) -> list[str]:
    if override is None:
        return []
    return sorted({f.code.value for f in findings if f.tier is Tier.HARD_STOP and f.code in override.codes})
