"""Pumps, patients and the conditions a constant-flow pump is under."""

from fastapi import APIRouter, status

from pump_service.api.deps import ActorDep, ClockDep, SessionDep, SettingsDep
from pump_service.persistence import repositories as repo
from pump_service.services.contracts import ConditionEntry, PatientEntry, PumpRegistration, PumpView
from pump_service.services.pumps.conditions import record_conditions
from pump_service.services.pumps.registry import (
    get_pump,
    list_pump_views,
    pump_view,
    register_patient,
    register_pump,
)

router = APIRouter(tags=["pumps"])


@router.get("/pumps")
def read_pumps(session: SessionDep, clock: ClockDep) -> list[PumpView]:
    """Every registered pump with its last known state and next due date."""
    return list_pump_views(session, now=clock.now())


@router.post(
    "/pumps", status_code=status.HTTP_201_CREATED, responses={409: {"description": "serial already registered"}}
)
def create_pump(entry: PumpRegistration, session: SessionDep, clock: ClockDep, actor: ActorDep) -> PumpView:
    """Register a pump (its patient must exist)."""
    pump = register_pump(session, entry, actor=actor, now=clock.now())
    return pump_view(pump, patient_ref=entry.patient_ref, now=clock.now())


@router.get("/pumps/{serial}", responses={404: {"description": "no such pump"}})
def read_pump(serial: str, session: SessionDep, clock: ClockDep) -> PumpView:
    pump = get_pump(session, serial)
    refs = repo.patient_refs(session, {pump.patient_id} if pump.patient_id else set())
    return pump_view(pump, patient_ref=refs.get(pump.patient_id or -1), now=clock.now())


@router.post("/patients", status_code=status.HTTP_201_CREATED)
def create_patient(entry: PatientEntry, session: SessionDep, clock: ClockDep, actor: ActorDep) -> PatientEntry:
    """Register a patient by pseudonymous reference (or update the body mass)."""
    patient = register_patient(session, entry, actor=actor, now=clock.now())
    return PatientEntry(patient_ref=patient.patient_ref, body_mass_kg=patient.body_mass_kg)


@router.post(
    "/pumps/{serial}/conditions",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such pump"}, 409: {"description": "a period already starts then"}},
)
def create_condition(
    serial: str, entry: ConditionEntry, session: SessionDep, settings: SettingsDep, clock: ClockDep, actor: ActorDep
) -> ConditionEntry:
    """Record a fever, a flight or a stay at altitude for a constant-flow pump; its due date moves with it."""
    row = record_conditions(session, serial, entry, settings=settings, actor=actor, now=clock.now())
    return ConditionEntry(
        start_at=row.start_at,
        body_temperature_c=row.body_temperature_c,
        ambient_pressure_mmhg=row.ambient_pressure_mmhg,
        relative_viscosity=row.relative_viscosity,
        note=row.note,
    )
