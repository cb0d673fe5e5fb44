"""Hardware changes: a pump replaced by another, a pump registered under the wrong model.

Both keep every history. A replaced pump is not deleted or renamed: it is *explanted* (its state,
when, why), linked to its successor, its bookings cancelled, and refused for any further visit
(``registry.get_pump``), while the new pump starts its own history for the same patient. A model
correction only moves within a family (a 20 mL programmable pump entered as the 40 mL one): a
pump cannot turn from constant-flow to programmable, that would be a replacement. Each change is
a device-log event naming the actor, the station and both sides.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from pump_service.errors import NotFoundError, RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import DeviceLogRecord, Patient, Pump, PumpState
from pump_service.services.actor import Actor
from pump_service.services.contracts import ModelCorrection, PumpRegistration, PumpReplacement
from pump_service.services.pumps.registry import check_prescription_fits, get_pump, register_pump
from pump_service.services.scheduling.booking import cancel_pump_appointments
from schemas.prescription import ContinuousPrescription, StepsPrescription, StoppedPrescription
from schemas.pump_catalogue import get_pump_model

__all__ = ["Replacement", "change_pump_model", "replace_pump"]

EXPLANT_REASON = "pump explanted"


@dataclass(frozen=True, slots=True)
class Replacement:
    """The two pumps of a replacement and the bookings it cancelled."""

    explanted: Pump
    replacement: Pump
    closed_appointments: tuple[int, ...]


def replace_pump(session: Session, serial: str, entry: PumpReplacement, *, actor: Actor, now: datetime) -> Replacement:
    """Explant pump ``serial`` and register ``entry`` in its place for the same patient.

    Raises:
        NotFoundError: no pump ``serial``.
        ConflictError: it was already explanted, or the new serial is already registered.
        RuleViolationError: a replacement time in the future or before the old pump's implant.
    """
    old = get_pump(session, serial, for_update=True)
    at = entry.implanted_at or now
    if at > now:
        raise RuleViolationError("a replacement cannot be in the future", field="implanted_at")
    if old.implanted_at is not None and at < old.implanted_at:
        raise RuleViolationError(f"{serial} was implanted after {at.isoformat()}", field="implanted_at")
    patient = session.get(Patient, old.patient_id) if old.patient_id is not None else None
    registration = PumpRegistration.model_validate(
        {
            **entry.model_dump(exclude={"reason", "patient_ref", "implanted_at"}),
            "patient_ref": patient.patient_ref if patient is not None else None,
            "implanted_at": at,
        }
    )
    new = register_pump(session, registration, actor=actor, now=now)
    old_id, new_id = _id(old), _id(new)
    closed = cancel_pump_appointments(session, old, EXPLANT_REASON, actor=actor, now=now)
    old.state, old.explanted_at, old.explant_reason = PumpState.EXPLANTED, at, entry.reason
    old.replaced_by_id = new_id
    old.next_due_at = old.next_due_reason = old.alarm_at = old.empty_at = None  # never due again
    new.replaces_id = old_id
    for pump in (old, new):
        pump.version += 1
        pump.updated_at, pump.updated_by = now, actor.user
        session.add(pump)
    _event(
        session,
        old_id,
        "PUMP_EXPLANTED",
        {"reason": entry.reason, "explanted_at": at.isoformat(), "replaced_by": new.serial, "appointments": closed},
        actor=actor,
        now=now,
    )
    _event(session, new_id, "PUMP_REPLACES", {"replaces": old.serial, "model_id": new.model_id}, actor=actor, now=now)
    session.flush()
    return Replacement(old, new, tuple(closed))


def change_pump_model(session: Session, serial: str, entry: ModelCorrection, *, actor: Actor, now: datetime) -> Pump:
    """Correct the registered model of pump ``serial`` to another model of the same family.

    The unit's labelled rate follows when it was the old model's default (it came from the wrong
    entry), unless ``entry`` gives one; the stored fill, reservoir and prescription must fit the
    corrected model.

    Raises:
        NotFoundError: no pump ``serial``.
        ConflictError: it was explanted.
        RuleViolationError: another family, the same model, a route, fill or rate the model cannot take.
    """
    pump = get_pump(session, serial, for_update=True)
    old, new = get_pump_model(pump.model_id), get_pump_model(entry.model_id)
    if new.model_id == old.model_id:
        raise RuleViolationError(f"{serial} is already registered as {old.name}", field="model_id")
    if new.family is not old.family:
        raise RuleViolationError(
            f"{serial} is a {old.family.value} pump ({old.name}); {new.name} is {new.family.value}: "
            "a pump of another family is a replacement, not a correction",
            field="model_id",
        )
    if pump.route not in {r.value for r in new.routes}:
        raise RuleViolationError(f"route {pump.route} is not available on {new.name}", field="model_id")
    for what, volume in (("last fill", pump.last_fill_volume_ml), ("reservoir", pump.reservoir_ml)):
        if volume is not None and volume > new.capacity_ml + 1e-9:
            raise RuleViolationError(
                f"the stored {what} of {volume:g} mL does not fit {new.name} ({new.capacity_ml:g} mL)",
                field="model_id",
            )
    rate = _corrected_rate(pump, entry)
    if rate is not None and not new.min_rate_ml_per_day <= rate <= new.max_rate_ml_per_day:
        raise RuleViolationError(
            f"nominal rate {rate:g} mL/day is outside {new.min_rate_ml_per_day:g}-{new.max_rate_ml_per_day:g} "
            f"mL/day for {new.name}",
            field="nominal_rate_ml_per_day",
        )
    previous = {"model_id": old.model_id, "nominal_rate_ml_per_day": pump.nominal_rate_ml_per_day}
    pump.model_id = new.model_id
    if new.flow_law is not None:
        if pump.planning_rate_ml_per_day == pump.nominal_rate_ml_per_day:
            pump.planning_rate_ml_per_day = rate
        pump.nominal_rate_ml_per_day = rate
    _check_prescription(session, pump)
    pump.version += 1
    pump.updated_at, pump.updated_by = now, actor.user
    session.add(pump)
    _event(
        session,
        _id(pump),
        "MODEL_CHANGED",
        {
            "reason": entry.reason,
            "old": previous,
            "new": {"model_id": new.model_id, "nominal_rate_ml_per_day": pump.nominal_rate_ml_per_day},
        },
        actor=actor,
        now=now,
    )
    session.flush()
    return pump


def _corrected_rate(pump: Pump, entry: ModelCorrection) -> float | None:
    old, new = get_pump_model(pump.model_id), get_pump_model(entry.model_id)
    if new.flow_law is None:
        return None  # a programmable pump's rate is its prescription
    if entry.nominal_rate_ml_per_day is not None:
        return entry.nominal_rate_ml_per_day
    took_default = pump.nominal_rate_ml_per_day is None or pump.nominal_rate_ml_per_day == old.nominal_rate_ml_per_day
    return new.nominal_rate_ml_per_day if took_default else pump.nominal_rate_ml_per_day


def _check_prescription(session: Session, pump: Pump) -> None:
    current = repo.current_prescription(session, _id(pump))
    if current is None:
        return
    prescription: ContinuousPrescription | StepsPrescription | StoppedPrescription
    if current.mode == "continuous" and current.rate_ml_per_day is not None:
        prescription = ContinuousPrescription(rate_ml_per_day=current.rate_ml_per_day)
    elif current.mode == "steps" and current.steps:
        prescription = StepsPrescription.model_validate({"mode": "steps", "steps": current.steps})
    else:
        return
    check_prescription_fits(pump, prescription)


def _event(
    session: Session, pump_id: int, entry_type: str, data: dict[str, object], *, actor: Actor, now: datetime
) -> None:
    session.add(
        DeviceLogRecord(
            pump_id=pump_id,
            source="service",
            entry_type=entry_type,
            recorded_at=now,
            data=data,
            actor=actor.user,
            station_id=actor.station_id,
        )
    )


def _id(pump: Pump) -> int:
    if pump.id is None:
        raise NotFoundError(f"pump {pump.serial} is not stored yet")
    return pump.id
