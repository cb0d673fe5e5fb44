"""Plan a refill from the stored pump, and store a plan: the refill's rows, the pump's state, the booking.

:func:`plan_for` turns the request and the stored pump into the domain's :class:`RefillPlan`
(computed once); :func:`store_refill` writes that plan in the caller's transaction (the refill
and its components, the pump's state once, a device-log entry, a condition period for a viscous
fill, the appointment it fulfils and the next one). A request carries an idempotency key
(derived from its content when the client gives none): a retry returns the recorded refill
instead of recording it twice, and reusing a key for different content is a conflict.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session

from pump_service.domain.findings import Finding, Override, Tier
from pump_service.domain.refill_plan import (
    ComponentRequest,
    FillRequest,
    PlannedComponent,
    PlanPolicy,
    RefillPlan,
    RegisterReading,
    plan_refill,
)
from pump_service.domain.reservoir import daily_volume_ml
from pump_service.errors import ConflictError
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import ConditionPeriodRow, DeviceLogRecord, Pump, Refill, RefillComponent
from pump_service.services.actor import Actor
from pump_service.services.contracts import RefillEntry, RefillResult
from pump_service.services.held_rows import hold_rows
from pump_service.services.pumps.registry import get_pump
from pump_service.services.pumps.state import pump_id_of, snapshot_of
from pump_service.services.scheduling.booking import book_next_refill, complete_appointment
from pump_service.services.visits.cosignatures import Signatures, resolve_signatures, spend_signatures
from pump_service.services.visits.refill_views import refill_result
from pump_service.settings import Settings
from schemas.drug import AmountBasis
from schemas.drug_catalogue import get_drug
from schemas.pump import PumpFamily

__all__ = [
    "PreparedRows",
    "fill_request_of",
    "plan_for",
    "planned_component_rows",
    "record_refill",
    "refill_key",
    "refill_row",
    "replayed_result",
    "store_refill",
]


def refill_key(serial: str, entry: RefillEntry) -> tuple[str, str]:
    """The request's idempotency key (given, or derived from its content) and its content digest."""
    digest = _digest(serial, entry)
    return entry.idempotency_key or f"auto-{digest[:40]}", digest


def _digest(serial: str, entry: RefillEntry) -> str:
    # The co-signatures authorise the fill; they are not its content: a retry signed again (the
    # console asks for the password each time, a signature may have expired) is the same refill.
    content = entry.model_dump(mode="json", exclude={"idempotency_key", "cosignatures"})
    blob = json.dumps({"serial": serial, "entry": content}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def replayed_result(session: Session, serial: str, entry: RefillEntry) -> RefillResult | None:
    """The stored refill if this request was already recorded, else None.

    Raises:
        ConflictError: the key was used for a different refill.
    """
    key, digest = refill_key(serial, entry)
    existing = repo.refill_by_key(session, key)
    if existing is None:
        return None
    if existing.request_digest != digest:
        raise ConflictError(f"idempotency key {key} was already used for a different refill")
    return refill_result(session, existing, replayed=True)


def fill_request_of(entry: RefillEntry, *, override: Override | None = None) -> FillRequest:
    """The request in the domain's terms: canonical floats, drugs from the catalogue.

    ``override`` is the checked override (the acting physician's or a co-signed one), never the
    body's alone: see :mod:`pump_service.services.visits.cosignatures`.
    """
    components = []
    for c in entry.components:
        drug = get_drug(c.drug_id)
        mass = drug.amount_basis is AmountBasis.MASS
        components.append(
            ComponentRequest(
                drug=drug,
                amount=c.amount_mg if mass else c.amount_usp_u,
                concentration=c.conc_mg_per_ml if mass else c.conc_usp_u_per_ml,
                dose=c.dose.basis_and_value if c.dose is not None else None,
                stock_concentration=c.stock_concentration,
                expires_on=c.expires_on,
                lot=c.lot,
            )
        )
    rx = entry.prescription
    bolus = getattr(rx, "bolus", None) if rx is not None else None
    return FillRequest(
        performed_at=entry.performed_at,
        returned_volume_ml=entry.returned_volume_ml,
        fill_volume_ml=entry.fill_volume_ml,
        components=tuple(components),
        syringe_resolution_ml=entry.syringe_resolution_ml,
        body_mass_kg=entry.body_mass_kg,
        override=override,
        new_basal_ml_per_day=rx.mean_rate_ml_per_day() if rx is not None else None,
        new_bolus_allowance_ml_per_day=(daily_volume_ml(rx) - rx.mean_rate_ml_per_day()) if rx and bolus else None,
    )


def plan_for(
    session: Session,
    pump: Pump,
    entry: RefillEntry,
    *,
    settings: Settings,
    now: datetime,
    register: RegisterReading | None = None,
    rx_changed: bool = False,
    override: Override | None = None,
) -> RefillPlan:
    """The refill plan of ``entry`` for the stored ``pump`` (nothing is written).

    ``rx_changed``: the request's prescription replaces the one in force; the new fill is planned
    on it, the return is still judged on the old one.

    Raises:
        RuleViolationError: a value outside its bound or an impossible refill.
    """
    request = fill_request_of(entry, override=override)
    if not rx_changed:
        request = replace(request, new_basal_ml_per_day=None, new_bolus_allowance_ml_per_day=None)
    policy = PlanPolicy(
        zone=settings.zone,
        warn_deviation_pct=settings.warn_deviation_pct,
        alert_deviation_pct=settings.alert_deviation_pct,
        safety_margin_days=settings.safety_margin_days,
    )
    return plan_refill(snapshot_of(session, pump), request, policy=policy, now=now, register=register)


def refill_row(
    pump: Pump,
    plan: RefillPlan,
    entry: RefillEntry,
    *,
    actor: Actor,
    now: datetime,
    extra_findings: Sequence[Finding] = (),
) -> Refill:
    """The refill row of ``plan`` (not added to a session): stored by :func:`store_refill`, billed as is."""
    pump_id = pump_id_of(pump)
    key, digest = refill_key(pump.serial, entry)
    findings = (*plan.findings, *extra_findings)
    assessment = plan.assessment
    override = plan.request.override
    refill = Refill(
        idempotency_key=key,
        request_digest=digest,
        pump_id=pump_id,
        performed_at=entry.performed_at,
        previous_fill_at=pump.last_fill_at,
        previous_fill_volume_ml=pump.last_fill_volume_ml,
        returned_volume_ml=entry.returned_volume_ml,
        syringe_resolution_ml=entry.syringe_resolution_ml,
        fill_volume_ml=entry.fill_volume_ml,
        body_mass_kg=plan.body_mass_kg,
        elapsed_days=assessment.days if assessment else None,
        expected_residual_ml=assessment.expected_residual_ml if assessment else None,
        expected_rate_ml_per_day=assessment.expected_rate_ml_per_day if assessment else None,
        measured_rate_ml_per_day=assessment.measured_rate_ml_per_day if assessment else None,
        deviation_pct=assessment.deviation_pct if assessment else None,
        volume_delta_ml=assessment.volume_delta_ml if assessment else None,
        flow_class=assessment.flow_class.value if assessment else None,
        likely_causes=[c.value for c in assessment.likely_causes] if assessment else [],
        warnings=[f"{f.code.value}: {f.message}" for f in findings if f.tier is not Tier.INFO],
        findings=[f.as_dict() for f in findings],
        override=override.as_dict() if override is not None else None,
        register_ml=plan.register.reservoir_ml if plan.register is not None else None,
        nothing_aspirated=assessment.nothing_aspirated if assessment else False,
        planning_rate_ml_per_day=plan.rate.rate_ml_per_day,
        planning_rate_source=plan.rate.source.value,
        dosing_rate_ml_per_day=plan.rate.dosing_rate_ml_per_day,
        alarm_at=plan.forecast.low_reservoir_at,
        empty_at=plan.forecast.empty_at,
        next_due_at=plan.due.due_at,
        next_due_reason=plan.due.reason.value,
        due_constraints=[{"reason": c.reason.value, "due_at": c.due_at.isoformat()} for c in plan.due.constraints],
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
    )
    return refill


def planned_component_rows(plan: RefillPlan, entry: RefillEntry, refill_id: int = 0) -> list[RefillComponent]:
    """The component rows of ``plan`` in request order (refill_id 0: not stored yet)."""
    return [_component_row(refill_id, planned, entry) for planned in plan.components]


@dataclass(frozen=True, slots=True)
class PreparedRows:
    """The rows of a plan built once, before storing (billing reads them): stored as they are."""

    refill: Refill
    components: list[RefillComponent]


def store_refill(
    session: Session,
    pump: Pump,
    plan: RefillPlan,
    entry: RefillEntry,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    extra_findings: Sequence[Finding] = (),
    signatures: Signatures | None = None,
    prepared: PreparedRows | None = None,
) -> Refill:
    """Write ``plan`` in the caller's transaction and return the refill row (flushed, not committed).

    The caller has checked that the plan is committable and that ``pump`` (locked) is the version
    the plan was made from. ``signatures`` are stored with the refill and spent by it.
    ``prepared``: the rows :func:`refill_row` and :func:`planned_component_rows` built from this same
    plan in this transaction (not added to a session); None: built here, with ``extra_findings``.

    Raises:
        ConflictError: a co-signature was spent by another refill meanwhile.
    """
    pump_id = pump_id_of(pump)
    if prepared is not None and extra_findings:
        raise ValueError("prepared rows carry the plan's findings only: build them with the extra findings")
    if prepared is None:
        prepared = PreparedRows(
            refill_row(pump, plan, entry, actor=actor, now=now, extra_findings=extra_findings),
            planned_component_rows(plan, entry),
        )
    refill = prepared.refill
    if signatures is not None:
        refill.cosignatures = signatures.record()
    assessment, override = plan.assessment, plan.request.override
    session.add(refill)
    session.flush()
    refill_id = refill.id
    if refill_id is None:  # pragma: no cover - flushed above
        raise ConflictError("the refill was not stored")
    if signatures is not None:
        spend_signatures(session, signatures, refill_id, now)
    for component in prepared.components:
        component.refill_id = refill_id
    session.add_all(prepared.components)
    if pump.family == PumpFamily.CONSTANT_FLOW:
        _record_viscosity_change(session, pump_id, plan, actor, now)
    session.add(
        DeviceLogRecord(
            pump_id=pump_id,
            source="service",
            entry_type="REFILL_RECORDED",
            device_time_at=None,
            recorded_at=now,
            data={
                "refill_id": refill_id,
                "returned_volume_ml": entry.returned_volume_ml,
                "fill_volume_ml": entry.fill_volume_ml,
                "flow_class": refill.flow_class,
                "next_due_at": plan.due.due_at.isoformat(),
                "overridden": sorted(c.value for c in override.codes) if override and refill.override else [],
            },
            actor=actor.user,
            station_id=actor.station_id,
        )
    )
    complete_appointment(session, pump, refill_id, actor=actor, now=now)
    booked = book_next_refill(
        session, pump, due=plan.due, forecast=plan.forecast, settings=settings, actor=actor, now=now
    )
    refill.booked_appointment_id = booked.id
    hold_rows(session, booked)  # the result shows it: answered from memory, not read again
    session.add(refill)
    # The pump's new state is set after the bookings' flushes: its row is written once, below.
    pump.last_fill_at = entry.performed_at
    pump.last_fill_volume_ml = entry.fill_volume_ml
    pump.reservoir_ml = entry.fill_volume_ml
    pump.reservoir_at = entry.performed_at
    if assessment is not None and assessment.measured_rate_ml_per_day is not None:
        pump.measured_rate_ml_per_day = assessment.measured_rate_ml_per_day
    pump.flow_ratio = plan.flow_ratio
    pump.planning_rate_ml_per_day = plan.rate.rate_ml_per_day
    pump.version += 1
    pump.updated_at = now
    pump.updated_by = actor.user
    session.add(pump)
    session.flush()
    return refill


def record_refill(
    session: Session,
    serial: str,
    entry: RefillEntry,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> RefillResult:
    """Plan and record ``entry`` for pump ``serial`` in the caller's transaction (no device involved).

    A record of a fill done elsewhere (demo history, imports): no pump is written, so the
    second-person check that guards the station's own fill (:func:`complete_visit`) is not asked.

    Raises:
        PermissionDeniedError: a direct override by a role that may not override.
        NotFoundError: no such pump.
        ConflictError: the idempotency key was used for a different refill.
        RuleViolationError: a value outside its bound or an impossible refill.
        HardStopError: a hard stop the request's override does not cover (nothing stored).
    """
    replayed = replayed_result(session, serial, entry)
    if replayed is not None:
        return replayed
    pump = get_pump(session, serial, for_update=True)
    signatures = resolve_signatures(session, pump, entry, actor=actor, now=now)
    plan = plan_for(session, pump, entry, settings=settings, now=now, override=signatures.override)
    plan.require_committable()
    refill = store_refill(session, pump, plan, entry, actor=actor, settings=settings, now=now, signatures=signatures)
    return refill_result(session, refill)


def _record_viscosity_change(session: Session, pump_id: int, plan: RefillPlan, actor: Actor, now: datetime) -> None:
    at, conditions = plan.request.performed_at, plan.fill_conditions
    if not plan.infusate_changed:
        return
    session.add(
        ConditionPeriodRow(
            pump_id=pump_id,
            start_at=at,
            body_temperature_c=conditions.body_temperature_c,
            ambient_pressure_mmhg=conditions.ambient_pressure_mmhg,
            relative_viscosity=conditions.relative_viscosity,
            note="infusate changed at refill",
            created_at=now,
            created_by=actor.user,
            station_id=actor.station_id,
        )
    )


def _component_row(refill_id: int, planned: PlannedComponent, entry: RefillEntry) -> RefillComponent:
    mass = planned.drug.amount_basis is AmountBasis.MASS
    activity = planned.drug.amount_basis is AmountBasis.ACTIVITY
    given = entry.components[planned.index]
    return RefillComponent(
        refill_id=refill_id,
        drug_id=planned.drug.drug_id,
        volume_ml=planned.volume_ml,
        amount_mg=planned.amount if mass else None,
        amount_usp_u=planned.amount if activity else None,
        conc_mg_per_ml=planned.concentration if mass else None,
        conc_usp_u_per_ml=planned.concentration if activity else None,
        ndc=given.ndc,
        lot=given.lot,
        expires_on=given.expires_on,
    )
