"""The clinic's patients, drawn from a seed: pump, flow spread, conditions, faults and battery.

Every draw comes from one :class:`random.Random` seeded with the run's seed, in a fixed order, so
the same configuration gives the same patients. Faults are the simulators' own
(``simulators/pump_faults.py``); fevers and flights are ``simulators.patients.random_timeline``.
Attendance (no-shows, late arrivals) is drawn per appointment by :func:`attendance_for`.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model
from simulators.conditions import PatientTimeline
from simulators.constant_flow import draw_unit_factor
from simulators.patients import random_timeline
from simulators.pump_faults import Leak, MotorStall, Occlusion, PocketFill, PumpFault, RestrictorPrecipitate
from testbench.clinic_config import ClinicConfig, ClinicRates

__all__ = [
    "CONSTANT_FLOW_MODEL",
    "PROGRAMMABLE_MODEL",
    "Attendance",
    "PatientPlan",
    "attendance_for",
    "fault_kind",
    "generate_population",
    "safe_days",
]

PROGRAMMABLE_MODEL = "programmable-20"
CONSTANT_FLOW_MODEL = "hai-30"


class Attendance(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    NO_SHOW = "no_show"


@dataclass(frozen=True, slots=True)
class PatientPlan:
    """One patient and their pump as the simulation knows them (the truth, not the service's view)."""

    serial: str
    patient_ref: str
    family: PumpFamily
    model_id: str
    body_mass_kg: float
    rate_ml_per_day: float  # programmable: the prescribed rate; constant-flow: the labelled rate
    unit_factor: float  # true flow / labelled (or programmed) flow
    last_fill_days_before_start: float  # the fill before the run, so the clinic starts in its steady state
    timeline: PatientTimeline = field(default_factory=PatientTimeline)
    faults: tuple[PumpFault, ...] = ()
    eri_at: datetime | None = None  # programmable: when the battery reaches ERI
    no_show_visits: frozenset[int] = frozenset()  # scenario: 1-based appointment numbers the patient misses
    late_visits: frozenset[int] = frozenset()  # scenario: appointment numbers the patient comes late to


def fault_kind(fault: PumpFault) -> str:
    """The report's name of a fault."""
    kinds: dict[type, str] = {
        Occlusion: "occlusion",
        Leak: "leak",
        PocketFill: "pocket_fill",
        RestrictorPrecipitate: "precipitate",
        MotorStall: "motor_stall",
    }
    return kinds[type(fault)]


def safe_days(model_id: str, rate_ml_per_day: float) -> float:
    """Days a full pump runs at ``rate_ml_per_day`` before it reaches its low-reservoir alarm."""
    model = get_pump_model(model_id)
    return (model.capacity_ml - model.low_reservoir_ml) / rate_ml_per_day


def _onsets(rng: random.Random, per_year: float, start: datetime, days: float) -> list[datetime]:
    """Poisson onsets over the run, on whole minutes."""
    onsets: list[datetime] = []
    if per_year <= 0:
        return onsets
    at_days = rng.expovariate(per_year / 365.25)
    while at_days < days:
        onsets.append(start + timedelta(minutes=round(at_days * 1440)))
        at_days += rng.expovariate(per_year / 365.25)
    return onsets


def _constant_flow_faults(rng: random.Random, rates: ClinicRates, start: datetime, days: float) -> list[PumpFault]:
    faults: list[PumpFault] = []
    for at in _onsets(rng, rates.occlusion_per_year, start, days):
        faults.append(Occlusion(at, remaining_flow=round(rng.uniform(0.0, 0.5), 2)))
    for at in _onsets(rng, rates.leak_per_year, start, days):
        faults.append(Leak(at, rate_ml_per_day=round(rng.uniform(0.15, 0.4), 2)))
    for at in _onsets(rng, rates.pocket_fill_per_year, start, days):
        faults.append(PocketFill(at, fraction=round(rng.uniform(0.2, 0.5), 2)))
    for at in _onsets(rng, rates.precipitate_per_year, start, days):
        faults.append(RestrictorPrecipitate(at, daily_flow_loss=round(rng.uniform(0.005, 0.02), 3)))
    return faults


def generate_population(config: ClinicConfig) -> list[PatientPlan]:
    """The configuration's patients: programmable first, then constant-flow, all from ``config.seed``."""
    rng = random.Random(config.seed)  # noqa: S311 - a seeded simulation, not a secret
    start, days, rates = config.start_at, float(config.days), config.rates
    plans: list[PatientPlan] = []
    programmable = get_pump_model(PROGRAMMABLE_MODEL)
    for i in range(config.programmable):
        rate = round(rng.uniform(0.35, 0.7), 2)
        faults: list[PumpFault] = [
            PocketFill(at, fraction=round(rng.uniform(0.2, 0.5), 2))
            for at in _onsets(rng, rates.pocket_fill_per_year, start, days)
        ]
        eri_in_run = rng.random() < rates.battery_eri_within_run
        eri_days = rng.uniform(0.0, days) if eri_in_run else days + rng.uniform(30.0, 2000.0)
        plans.append(
            PatientPlan(
                serial=f"PP-{i:05d}",
                patient_ref=f"PT-P{i:05d}",
                family=PumpFamily.PROGRAMMABLE,
                model_id=PROGRAMMABLE_MODEL,
                body_mass_kg=round(rng.uniform(45.0, 110.0), 1),
                rate_ml_per_day=rate,
                unit_factor=draw_unit_factor(programmable, rng),
                last_fill_days_before_start=rng.uniform(0.0, 0.8 * safe_days(PROGRAMMABLE_MODEL, rate)),
                faults=tuple(faults),
                eri_at=start + timedelta(days=eri_days),
            )
        )
    constant_flow = get_pump_model(CONSTANT_FLOW_MODEL)
    nominal = constant_flow.nominal_rate_ml_per_day or 1.0
    for i in range(config.constant_flow):
        plans.append(
            PatientPlan(
                serial=f"CF-{i:05d}",
                patient_ref=f"PT-C{i:05d}",
                family=PumpFamily.CONSTANT_FLOW,
                model_id=CONSTANT_FLOW_MODEL,
                body_mass_kg=round(rng.uniform(45.0, 110.0), 1),
                rate_ml_per_day=nominal,
                unit_factor=draw_unit_factor(constant_flow, rng),
                last_fill_days_before_start=rng.uniform(0.0, 0.8 * safe_days(CONSTANT_FLOW_MODEL, nominal * 1.1)),
                timeline=random_timeline(rng, start, days),
                faults=tuple(_constant_flow_faults(rng, rates, start, days)),
            )
        )
    return plans


def attendance_for(plan: PatientPlan, appointment_number: int, *, seed: int, rates: ClinicRates) -> Attendance:
    """Whether the patient comes to their ``appointment_number``-th appointment (1-based), seeded per appointment.

    A scenario's explicit lists win; otherwise the draw depends only on the seed, the serial and
    the number, so one patient's extra visit does not shift every other patient's luck.
    """
    if plan.no_show_visits or plan.late_visits:
        if appointment_number in plan.no_show_visits:
            return Attendance.NO_SHOW
        return Attendance.LATE if appointment_number in plan.late_visits else Attendance.ON_TIME
    draw = random.Random(f"{seed}:{plan.serial}:{appointment_number}").random()  # noqa: S311 - seeded simulation
    if draw < rates.no_show:
        return Attendance.NO_SHOW
    return Attendance.LATE if draw < rates.no_show + rates.late_arrival else Attendance.ON_TIME
