"""Pump registry use cases: register a pump (and its patient), list, show, record conditions."""

import math
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from pump_service.domain.planning_rate import planning_rate
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import (
    ConditionPeriodRow,
    DeviceLogRecord,
    Patient,
    PrescriptionRow,
    Pump,
    PumpState,
)
from pump_service.persistence.rows import pump_id_of
from pump_service.services.actor import Actor
from pump_service.services.contracts import ConditionEntry, PatientEntry, PumpRegistration, PumpView
from pump_service.services.paging import Page, PageRequest, rows_page, select_page
from schemas.flow_law import FlowConditions, advance_volume, ambient_pressure_mmhg
from schemas.prescription import ContinuousPrescription, StepsPrescription, StoppedPrescription
from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model

__all__ = [
    "add_condition_period",
    "check_active",
    "check_prescription_fits",
    "get_pump",
    "list_pump_views",
    "prescription_differs",
    "pump_view",
    "pump_view_page",
    "register_patient",
    "register_pump",
    "show_pump",
    "write_prescription_row",
]

PUMP_LIST = "pumps"

AnyPrescription = ContinuousPrescription | StepsPrescription | StoppedPrescription


def register_patient(session: Session, entry: PatientEntry, *, actor: Actor, now: datetime) -> Patient:
    """Add a patient by reference, or update the body mass of an existing one."""
    patient = repo.find_patient(session, entry.patient_ref)
    if patient is None:
        patient = Patient(
            patient_ref=entry.patient_ref,
            body_mass_kg=entry.body_mass_kg,
            created_at=now,
            created_by=actor.user,
            station_id=actor.station_id,
        )
        session.add(patient)
    elif entry.body_mass_kg is not None and entry.body_mass_kg != patient.body_mass_kg:
        patient.body_mass_kg = entry.body_mass_kg
        # The body mass doses every weight-based fill: plans of the patient's pumps made before are stale.
        for pump in session.exec(select(Pump).where(Pump.patient_id == patient.id)).all():
            pump.version += 1
            pump.updated_at, pump.updated_by = now, actor.user
            session.add(pump)
    session.flush()
    return patient


def register_pump(session: Session, entry: PumpRegistration, *, actor: Actor, now: datetime) -> Pump:
    """Add a pump to the registry.

    Raises:
        ConflictError: the serial is already registered.
        NotFoundError: the patient reference is unknown.
    """
    if repo.find_pump(session, entry.serial) is not None:
        raise ConflictError(f"pump {entry.serial} is already registered")
    patient_id = None
    if entry.patient_ref is not None:
        patient = repo.find_patient(session, entry.patient_ref)
        if patient is None:
            raise NotFoundError(f"no patient {entry.patient_ref}")
        patient_id = patient.id
    model = get_pump_model(entry.model_id)
    rate = entry.nominal_rate_ml_per_day or model.nominal_rate_ml_per_day
    pump = Pump(
        serial=entry.serial,
        model_id=model.model_id,
        family=model.family,
        route=entry.route.value,
        patient_id=patient_id,
        nominal_rate_ml_per_day=rate,
        planning_rate_ml_per_day=rate,
        implanted_at=entry.implanted_at,
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
        updated_at=now,
        updated_by=actor.user,
    )
    session.add(pump)
    session.flush()
    pump_id = pump_id_of(pump)
    if entry.prescription is not None:
        write_prescription_row(session, pump, entry.prescription, actor=actor, now=now)
    session.add(
        DeviceLogRecord(
            pump_id=pump_id,
            source="service",
            entry_type="PUMP_REGISTERED",
            recorded_at=now,
            data={"model_id": model.model_id, "route": entry.route.value},
            actor=actor.user,
            station_id=actor.station_id,
        )
    )
    session.flush()
    return pump


def write_prescription_row(
    session: Session, pump: Pump, prescription: AnyPrescription, *, actor: Actor, now: datetime
) -> PrescriptionRow:
    """Make ``prescription`` the pump's current one; the previous one is superseded, not deleted."""
    pump_id = pump_id_of(pump)
    check_prescription_fits(pump, prescription)
    previous = repo.current_prescription(session, pump_id)
    if previous is not None:
        previous.superseded_at = now
    bolus = getattr(prescription, "bolus", None)
    # HPP/1 carries no patient bolus allowance: a prescription read from or written to the pump
    # keeps the allowance registered for the patient, or every plan after it would drop it.
    bolus_volume = bolus.volume_ml if bolus else (previous.bolus_volume_ml if previous else None)
    bolus_max = bolus.max_per_day if bolus else (previous.bolus_max_per_day if previous else None)
    row = PrescriptionRow(
        pump_id=pump_id,
        mode=prescription.mode,
        rate_ml_per_day=getattr(prescription, "rate_ml_per_day", None),
        steps=[
            {"start": s.start.strftime("%H:%M"), "rate_ml_per_day": s.rate_ml_per_day}
            for s in getattr(prescription, "steps", ())
        ],
        bolus_volume_ml=bolus_volume,
        bolus_max_per_day=bolus_max,
        daily_volume_ml=planning_rate(
            get_pump_model(pump.model_id),
            basal_ml_per_day=prescription.mean_rate_ml_per_day(),
            bolus_allowance_ml_per_day=(bolus_volume or 0.0) * (bolus_max or 0),
        ).rate_ml_per_day,
        rx_id=prescription.rx_id,
        effective_at=now,
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
    )
    session.add(row)
    pump.planning_rate_ml_per_day = row.daily_volume_ml
    session.flush()
    return row


def check_prescription_fits(pump: Pump, prescription: AnyPrescription) -> None:
    """Refuse a prescription for a pump that has none, or with a rate outside the model's limits.

    Raises:
        RuleViolationError: naming ``prescription``.
    """
    if pump.family != PumpFamily.PROGRAMMABLE:
        raise RuleViolationError("only programmable pumps have a prescription", field="prescription")
    model = get_pump_model(pump.model_id)
    for rate in _rates_of(prescription):
        if rate and not model.min_rate_ml_per_day <= rate <= model.max_rate_ml_per_day:
            raise RuleViolationError(
                f"rate {rate:g} mL/day is outside {model.min_rate_ml_per_day:g}-{model.max_rate_ml_per_day:g} mL/day",
                field="prescription",
            )


def prescription_differs(session: Session, pump: Pump, prescription: AnyPrescription) -> bool:
    """Whether ``prescription`` changes the dose or rate of the one in force (billing: reprogramming)."""
    pump_id = pump_id_of(pump)
    current = repo.current_prescription(session, pump_id)
    if current is None or current.mode != prescription.mode:
        return True
    bolus = getattr(prescription, "bolus", None)
    # A prescription without an allowance keeps the registered one (see write_prescription_row).
    same_bolus = bolus is None or (current.bolus_volume_ml, current.bolus_max_per_day) == (
        bolus.volume_ml,
        bolus.max_per_day,
    )
    if isinstance(prescription, ContinuousPrescription):
        same_rates = math.isclose(current.rate_ml_per_day or 0.0, prescription.rate_ml_per_day, abs_tol=1e-9)
    elif isinstance(prescription, StepsPrescription):
        wanted = [(s.start.strftime("%H:%M"), s.rate_ml_per_day) for s in prescription.steps]
        stored = [(s["start"], s["rate_ml_per_day"]) for s in current.steps]
        same_rates = len(wanted) == len(stored) and all(
            a[0] == b[0] and math.isclose(a[1], b[1], abs_tol=1e-9) for a, b in zip(wanted, stored, strict=True)
        )
    else:
        same_rates = True
    return not (same_rates and same_bolus)


def _rates_of(prescription: AnyPrescription) -> list[float]:
    if isinstance(prescription, ContinuousPrescription):
        return [prescription.rate_ml_per_day]
    if isinstance(prescription, StepsPrescription):
        return [s.rate_ml_per_day for s in prescription.steps]
    return []


def add_condition_period(
    session: Session, serial: str, entry: ConditionEntry, *, actor: Actor, now: datetime
) -> ConditionPeriodRow:
    """Record that a constant-flow pump is under new conditions from ``entry.start_at``.

    Raises:
        NotFoundError: no such pump.
        RuleViolationError: a programmable pump (its motor sets the flow) or a start in the future.
        ConflictError: a period already starts at that instant.
    """
    pump = get_pump(session, serial)
    if pump.family != PumpFamily.CONSTANT_FLOW:
        raise RuleViolationError("conditions only change the flow of constant-flow pumps", field="serial")
    if entry.start_at > now:
        raise RuleViolationError("a condition period cannot start in the future", field="start_at")
    pump_id = pump_id_of(pump)
    periods = repo.condition_periods(session, pump_id)
    if any(p.start_at == entry.start_at for p in periods):
        raise ConflictError(f"a condition period already starts at {entry.start_at.isoformat()}")
    earlier = [p for p in periods if p.start_at < entry.start_at]
    viscosity = entry.relative_viscosity or (earlier[-1].relative_viscosity if earlier else 1.0)
    if entry.ambient_pressure_mmhg is not None:
        pressure = entry.ambient_pressure_mmhg
    else:
        pressure = ambient_pressure_mmhg(entry.altitude_m or 0.0)
    FlowConditions(  # validates the combination before it is stored
        body_temperature_c=entry.body_temperature_c, ambient_pressure_mmhg=pressure, relative_viscosity=viscosity
    )
    row = ConditionPeriodRow(
        pump_id=pump_id,
        start_at=entry.start_at,
        body_temperature_c=entry.body_temperature_c,
        ambient_pressure_mmhg=pressure,
        relative_viscosity=viscosity,
        note=entry.note,
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
    )
    session.add(row)
    # The conditions are an input of the pump's refill plan: a plan made before them is stale.
    pump.version += 1
    pump.updated_at, pump.updated_by = now, actor.user
    session.add(pump)
    session.flush()
    return row


def get_pump(session: Session, serial: str, *, for_update: bool = False, include_explanted: bool = False) -> Pump:
    """The pump with ``serial``, refused once explanted unless ``include_explanted`` (reading history).

    Every use case that changes a pump (a refill, an interrogation, conditions, a visit) looks it
    up here, so an explanted pump is refused in one place.

    Raises:
        NotFoundError: no pump with that serial.
        ConflictError: the pump was explanted (and ``include_explanted`` is false).
    """
    pump = repo.find_pump(session, serial, for_update=for_update)
    if pump is None:
        raise NotFoundError(f"no pump {serial}")
    if not include_explanted:
        check_active(session, pump)
    return pump


def check_active(session: Session, pump: Pump) -> None:
    """Raises: ConflictError: the pump was explanted; the message names its replacement, if any."""
    if pump.state != PumpState.EXPLANTED:
        return
    when = pump.explanted_at.isoformat() if pump.explanted_at is not None else "an unknown date"
    successor = session.get(Pump, pump.replaced_by_id) if pump.replaced_by_id is not None else None
    instead = f": use its replacement {successor.serial}" if successor is not None else ""
    raise ConflictError(f"pump {pump.serial} was explanted on {when} and takes no more visits{instead}")


def pump_view(
    pump: Pump,
    *,
    patient_ref: str | None,
    now: datetime,
    replaces: str | None = None,
    replaced_by: str | None = None,
) -> PumpView:
    """The pump as the API and CLI show it; ``replaces``/``replaced_by`` are the linked pumps' serials."""
    model = get_pump_model(pump.model_id)
    estimate = None
    if pump.reservoir_ml is not None and pump.reservoir_at is not None and pump.planning_rate_ml_per_day is not None:
        days = max(0.0, (now - pump.reservoir_at).total_seconds() / 86_400)
        estimate = advance_volume(pump.reservoir_ml, pump.planning_rate_ml_per_day, days, model.near_empty_ml)
        estimate = math.floor(estimate * 100 + 0.5) / 100
    return PumpView(
        serial=pump.serial,
        model_id=pump.model_id,
        model_name=model.name,
        family=pump.family,
        route=pump.route,
        patient_ref=patient_ref,
        capacity_ml=model.capacity_ml,
        nominal_rate_ml_per_day=pump.nominal_rate_ml_per_day,
        implanted_at=pump.implanted_at,
        last_fill_at=pump.last_fill_at,
        last_fill_volume_ml=pump.last_fill_volume_ml,
        reservoir_ml=pump.reservoir_ml,
        reservoir_at=pump.reservoir_at,
        estimated_reservoir_ml=estimate,
        measured_rate_ml_per_day=pump.measured_rate_ml_per_day,
        planning_rate_ml_per_day=pump.planning_rate_ml_per_day,
        battery_state=pump.battery_state,
        months_to_eri=pump.months_to_eri,
        clock_drift_s=pump.clock_drift_s,
        alarms=tuple(pump.alarms),
        next_due_at=pump.next_due_at,
        next_due_reason=pump.next_due_reason,
        state=PumpState(pump.state),
        explanted_at=pump.explanted_at,
        explant_reason=pump.explant_reason,
        replaces_serial=replaces,
        replaced_by_serial=replaced_by,
        version=pump.version,
    )


def show_pump(session: Session, serial: str, *, now: datetime) -> PumpView:
    """One pump, explanted or not, with its patient and the serials of the pumps it is linked to.

    Raises:
        NotFoundError: no pump with that serial.
    """
    pump = get_pump(session, serial, include_explanted=True)
    refs = repo.patient_refs(session, {pump.patient_id} if pump.patient_id else set())
    return pump_view(pump, patient_ref=refs.get(pump.patient_id or -1), now=now, **_links(session, pump))


def _links(session: Session, pump: Pump) -> dict[str, str | None]:
    links: dict[str, str | None] = {"replaces": None, "replaced_by": None}
    for key, pump_id in (("replaces", pump.replaces_id), ("replaced_by", pump.replaced_by_id)):
        linked = session.get(Pump, pump_id) if pump_id is not None else None
        links[key] = linked.serial if linked is not None else None
    return links


def list_pump_views(session: Session, *, now: datetime) -> list[PumpView]:
    """Every pump by serial (the CLI's listing; the API and web pages read :func:`pump_view_page`)."""
    return _views_of(session, repo.list_pumps(session), now=now)


def pump_view_page(session: Session, request: PageRequest, *, now: datetime) -> Page[PumpView]:
    """A page of pumps by serial, explanted ones included, read from only that page's rows.

    Raises:
        RuleViolationError: a cursor of another list.
    """
    statement = select_page(select(Pump), (col(Pump.serial),), (str,), request=request, list_name=PUMP_LIST)
    pumps, cursor = rows_page(
        session.exec(statement).all(), key=lambda p: (p.serial,), request=request, list_name=PUMP_LIST
    )
    return Page(items=_views_of(session, pumps, now=now), next_cursor=cursor)


def _views_of(session: Session, pumps: Sequence[Pump], *, now: datetime) -> list[PumpView]:
    """The views of ``pumps``: one query for their patients and one for the serials they are linked to."""
    refs = repo.patient_refs(session, {p.patient_id for p in pumps if p.patient_id is not None})
    serials = _serials_by_id(session, {i for p in pumps for i in (p.replaces_id, p.replaced_by_id) if i is not None})
    return [
        pump_view(
            p,
            patient_ref=refs.get(p.patient_id or -1),
            now=now,
            replaces=serials.get(p.replaces_id) if p.replaces_id is not None else None,
            replaced_by=serials.get(p.replaced_by_id) if p.replaced_by_id is not None else None,
        )
        for p in pumps
    ]


def _serials_by_id(session: Session, pump_ids: set[int]) -> dict[int, str]:
    if not pump_ids:
        return {}
    rows = session.exec(select(Pump.id, Pump.serial).where(col(Pump.id).in_(pump_ids))).all()
    return {pump_id: serial for pump_id, serial in rows if pump_id is not None}
