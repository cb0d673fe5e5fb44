"""The real service a clinic run drives: a migrated database, the clinic calendar, the registry, the programmer.

Everything goes through the service's use cases (register_patient, register_pump, the default
clinic from the settings, add_user for the second nurse), so the run exercises what a clinic
would. The one programmer holds every programmable pump and is registered on a ``sim://`` URL
(``simulators/transport.py``), which the service's driver opens like any programmer.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine

from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.accounts import add_user
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from schemas.pump import PumpFamily
from simulators.clock import ManualClock
from simulators.link_faults import LinkFaultPlan
from simulators.programmer import SimulatedProgrammer
from simulators.transport import register_programmer
from testbench.clinic_config import ClinicConfig
from testbench.clinic_population import PatientPlan, safe_days

__all__ = ["BENCH_STATION", "ClinicService", "open_service", "second_nurse"]

BENCH_STATION = "bench"
OPEN_MINUTES = 8 * 60  # the settings' default 08:00-16:00
_SECOND_NURSE = ("bench-nurse-2", "bench-nurse-2-password")
# The simulated second nurse signs every intrathecal fill. At the service's OWASP parameters each
# check costs 20-25 ms of deliberate work (a sixth of a clinic-year's wall time) that measures
# nothing about the service; argon2id verifies any parameters a hash carries, so this one account
# gets a cheap hash. Real accounts always get the service's parameters (add_user).
_SIMULATED_ACCOUNT_HASHER = Argon2Hasher(time_cost=1, memory_cost=64, parallelism=1)


def second_nurse() -> tuple[str, str]:
    """The second nurse's account (username, password): the bench's own, created at set-up."""
    return _SECOND_NURSE


@dataclass
class ClinicService:
    engine: Engine
    settings: Settings
    clock: ManualClock
    programmer: SimulatedProgrammer
    device_url: str
    nurse: Actor
    physician: Actor
    front_desk: Actor


def _calendar(plans: list[PatientPlan]) -> tuple[int, int]:
    """Capacity per day and slot length that leave room: 1.5x the visits a working day needs on average."""
    per_day = sum(1.0 / (0.9 * safe_days(p.model_id, p.rate_ml_per_day * p.unit_factor)) for p in plans)
    needed = max(4, math.ceil(1.5 * per_day * 7 / 5))
    slot_minutes = max(1, min(30, OPEN_MINUTES // needed))
    return min(500, OPEN_MINUTES // slot_minutes), slot_minutes


def open_service(config: ClinicConfig, plans: list[PatientPlan], *, database_url: str, run_id: str) -> ClinicService:
    """Migrate the database, create the clinic and the accounts, register every patient and pump."""
    capacity, slot_minutes = _calendar(plans)
    settings = Settings(
        database_url=database_url,
        station_id=BENCH_STATION,
        clinic_capacity_per_day=capacity,
        clinic_slot_minutes=slot_minutes,
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    earliest = config.start_at - timedelta(days=max((p.last_fill_days_before_start for p in plans), default=0.0) + 1)
    clock = ManualClock(earliest)
    setup = Actor(user="bench-admin", station_id=BENCH_STATION)
    with transaction(engine) as session:
        default_clinic(session, settings, now=earliest, actor=setup)
        name, password = _SECOND_NURSE
        nurse = add_user(session, name, role=Role.NURSE, password=password, now=earliest, created_by=setup.user)
        nurse.password_hash = _SIMULATED_ACCOUNT_HASHER.hash(password)
        session.add(nurse)
        for plan in plans:
            register_patient(
                session, PatientEntry(patient_ref=plan.patient_ref, body_mass_kg=plan.body_mass_kg), actor=setup,
                now=earliest,
            )  # fmt: skip
            register_pump(session, _registration(plan), actor=setup, now=earliest)
    faults = LinkFaultPlan(
        seed=config.seed,
        frame_error_rate=config.rates.programmer_frame_error_rate,
        drop_response_rate=config.rates.programmer_drop_rate,
    )
    programmer = SimulatedProgrammer(
        (),
        clock=clock,
        constant_flow_serials=[p.serial for p in plans if p.family is PumpFamily.CONSTANT_FLOW],
        faults=faults,
    )
    url = f"sim://clinic-{run_id}"
    register_programmer(url, programmer)
    return ClinicService(
        engine=engine,
        settings=settings,
        clock=clock,
        programmer=programmer,
        device_url=url,
        nurse=Actor(user="bench-nurse-1", station_id=BENCH_STATION, role=Role.NURSE),
        physician=Actor(user="bench-physician", station_id=BENCH_STATION, role=Role.PHYSICIAN),
        front_desk=Actor(user="bench-front-desk", station_id=BENCH_STATION),
    )


def _registration(plan: PatientPlan) -> PumpRegistration:
    body: dict[str, object] = {
        "serial": plan.serial,
        "model_id": plan.model_id,
        "patient_ref": plan.patient_ref,
        "route": "intrathecal" if plan.family is PumpFamily.PROGRAMMABLE else "intra_arterial",
    }
    if plan.family is PumpFamily.PROGRAMMABLE:
        body["prescription"] = {"mode": "continuous", "rate_ml_per_day": f"{plan.rate_ml_per_day} mL/d"}
    return PumpRegistration.model_validate(body)
