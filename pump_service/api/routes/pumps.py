"""Pumps, patients and the conditions a constant-flow pump is under."""

from fastapi import APIRouter, Depends, status

from pump_service.api.auth import require
from pump_service.api.deps import ActorDep, ClockDep, ReadSessionDep, SessionDep, SettingsDep
from pump_service.api.pagination import PageDep
from pump_service.domain.access import Permission
from pump_service.services.contracts import (
    ConditionEntry,
    ModelCorrection,
    PatientEntry,
    PumpRegistration,
    PumpReplacement,
    PumpView,
    ReplacementResult,
)
from pump_service.services.paging import Page
from pump_service.services.pumps.conditions import record_conditions
from pump_service.services.pumps.hardware import change_pump_model, replace_pump
from pump_service.services.pumps.registry import (
    pump_view,
    pump_view_page,
    register_patient,
    register_pump,
    show_pump,
)

router = APIRouter(tags=["pumps"])


@router.get("/pumps", dependencies=[Depends(require(Permission.READ_CLINICAL))])
def read_pumps(session: ReadSessionDep, clock: ClockDep, page: PageDep) -> Page[PumpView]:
    """Every registered pump with its last known state and next due date, by serial, a page at a time."""
    return pump_view_page(session, page, now=clock.now())


@router.post(
    "/pumps",
    dependencies=[Depends(require(Permission.MANAGE_PUMPS))],
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "serial already registered"}},
)
def create_pump(entry: PumpRegistration, session: SessionDep, clock: ClockDep, actor: ActorDep) -> PumpView:
    """Register a pump (its patient must exist)."""
    pump = register_pump(session, entry, actor=actor, now=clock.now())
    return pump_view(pump, patient_ref=entry.patient_ref, now=clock.now())


@router.get(
    "/pumps/{serial}",
    dependencies=[Depends(require(Permission.READ_CLINICAL))],
    responses={404: {"description": "no such pump"}},
)
def read_pump(serial: str, session: ReadSessionDep, clock: ClockDep) -> PumpView:
    """One pump, explanted ones included (their history stays readable)."""
    return show_pump(session, serial, now=clock.now())


@router.post(
    "/pumps/{serial}/replacement",
    dependencies=[Depends(require(Permission.MANAGE_PUMPS))],
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "no such pump"},
        409: {"description": "the pump was already explanted, or the new serial is registered"},
        422: {"description": "the new pump's model, route or times do not fit"},
    },
)
def create_replacement(
    serial: str, entry: PumpReplacement, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> ReplacementResult:
    """Explant pump ``serial`` and register its replacement for the same patient; bookings are cancelled."""
    now = clock.now()
    done = replace_pump(session, serial, entry, actor=actor, now=now)
    return ReplacementResult(
        explanted=show_pump(session, done.explanted.serial, now=now),
        replacement=show_pump(session, done.replacement.serial, now=now),
        closed_appointments=done.closed_appointments,
    )


@router.post(
    "/pumps/{serial}/model",
    dependencies=[Depends(require(Permission.MANAGE_PUMPS))],
    responses={
        404: {"description": "no such pump"},
        409: {"description": "the pump was explanted"},
        422: {"description": "a model of another family, or one the pump's route, fill or rate does not fit"},
    },
)
def correct_model(
    serial: str, entry: ModelCorrection, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> PumpView:
    """Correct a pump registered under the wrong model (same family only); the change is logged."""
    change_pump_model(session, serial, entry, actor=actor, now=clock.now())
    return show_pump(session, serial, now=clock.now())


@router.post("/patients", dependencies=[Depends(require(Permission.MANAGE_PUMPS))], status_code=status.HTTP_201_CREATED)
def create_patient(entry: PatientEntry, session: SessionDep, clock: ClockDep, actor: ActorDep) -> PatientEntry:
    """Register a patient by pseudonymous reference (or update the body mass)."""
    patient = register_patient(session, entry, actor=actor, now=clock.now())
    return PatientEntry(patient_ref=patient.patient_ref, body_mass_kg=patient.body_mass_kg)


@router.post(
    "/pumps/{serial}/conditions",
    dependencies=[Depends(require(Permission.MANAGE_PUMPS))],
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
