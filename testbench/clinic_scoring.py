"""The score: the loop's truth, and what the service recorded, read back from its tables.

Visits, charges, bookings per day, no-shows and escalations are counted in the database (what a
clinic would audit), not from the loop's own bookkeeping, so a visit the service stored twice or
a charge set it duplicated shows up in the score.
"""

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import col, select

from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import read_transaction
from pump_service.persistence.models import Refill
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic, Notification
from testbench.clinic_config import ClinicConfig
from testbench.clinic_loop import LoopTally
from testbench.clinic_truth import PumpTruth
from testbench.score import ClinicScore, DayLoad, IncidentKind, PumpTrace, RunFacts

__all__ = ["ChargeCounts", "charge_counts", "score_run"]

DAY = timedelta(days=1)
_LOADED = (AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)


class ChargeCounts:
    """Refills since ``start`` by the number of distinct charge sets recorded for each."""

    def __init__(self, sets_per_refill: dict[int, int]) -> None:
        self.refills = len(sets_per_refill)
        self.one = sum(1 for n in sets_per_refill.values() if n == 1)
        self.none = sum(1 for n in sets_per_refill.values() if n == 0)
        self.duplicated = sum(1 for n in sets_per_refill.values() if n > 1)


def charge_counts(engine: Engine, start: datetime) -> ChargeCounts:
    """A set is the charge lines one visit recorded together (same visit key and moment)."""
    with read_transaction(engine) as session:
        refills = session.exec(select(Refill.id).where(col(Refill.performed_at) >= start)).all()
        lines = session.exec(
            select(ChargeEventRow.refill_id, ChargeEventRow.visit_key, ChargeEventRow.created_at).where(
                ChargeEventRow.kind == "charge", col(ChargeEventRow.refill_id).is_not(None)
            )
        ).all()
    sets: dict[int, set[tuple[str, datetime]]] = defaultdict(set)
    for refill_id, visit_key, created_at in lines:
        sets[int(refill_id or 0)].add((visit_key, created_at))
    return ChargeCounts({int(r or 0): len(sets.get(int(r or 0), ())) for r in refills})


def _day_loads(engine: Engine, config: ClinicConfig) -> list[DayLoad]:
    first, last = config.start_at.date(), (config.start_at + DAY * config.days).date()
    with read_transaction(engine) as session:
        capacity = {c.id: c.capacity_per_day for c in session.exec(select(Clinic)).all()}
        rows = session.exec(
            select(col(Appointment.clinic_id), col(Appointment.local_day), func.count())
            .where(col(Appointment.status).in_(_LOADED), Appointment.local_day >= first, Appointment.local_day < last)
            .group_by(col(Appointment.clinic_id), col(Appointment.local_day))
        ).all()
    booked: Counter[object] = Counter()
    limit: dict[object, int] = {}
    for clinic_id, day, count in rows:
        booked[day] += int(count)
        limit[day] = limit.get(day, 0) + capacity.get(clinic_id, 0)
    return [
        DayLoad(day=(day - first).days, booked=booked[day], capacity=limit[day])  # type: ignore[operator]
        for day in sorted(booked)  # type: ignore[type-var]
    ]


def _no_shows(engine: Engine, start: datetime) -> tuple[int, int]:
    with read_transaction(engine) as session:
        missed = session.exec(
            select(Appointment.id).where(
                Appointment.status == AppointmentStatus.NO_SHOW, col(Appointment.starts_at) >= start
            )
        ).all()
        escalated = session.exec(
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == "overdue", col(Notification.appointment_id).in_(missed))
        ).one()
    return len(missed), int(escalated)


def _trace(truth: PumpTruth, start: datetime) -> PumpTrace:
    def days(moments: list[datetime]) -> tuple[float, ...]:
        return tuple(round((m - start) / DAY, 4) for m in moments)

    return PumpTrace(
        serial=truth.plan.serial,
        family=truth.plan.family.value,
        capacity_ml=truth.pump.model.capacity_ml,
        alarm_ml=truth.pump.model.low_reservoir_ml,
        times_days=days([t for t, _ in truth.samples]),
        volume_ml=tuple(round(v, 3) for _, v in truth.samples),
        bookings_days=days([b for b in truth.bookings if b >= start]),
        refills_days=days(truth.refills),
    )


def score_run(config: ClinicConfig, engine: Engine, tally: LoopTally, *, database: str, wall_s: float) -> ClinicScore:
    """Fill every field of the score from the loop's truth and the service's tables."""
    start = config.start_at
    truths = list(tally.truths.values())
    incidents = tuple(sorted((i for t in truths for i in t.incidents), key=lambda i: (i.at_day, i.serial, i.kind)))
    faults = tuple(sorted((f for t in truths for f in t.fault_outcomes()), key=lambda f: (f.injected_day, f.serial)))
    detected = [f for f in faults if f.detected_day is not None]
    fractions = tuple(round(x, 4) for t in truths for x in t.fractions)
    charges = charge_counts(engine, start)
    loads = _day_loads(engine, config)
    no_shows, escalations = _no_shows(engine, start)
    patients = len(truths)
    patient_years = patients * config.days / 365.25
    return ClinicScore(
        facts=RunFacts(
            seed=config.seed,
            days=config.days,
            programmable=sum(1 for t in truths if t.plan.family.value == "programmable"),
            constant_flow=sum(1 for t in truths if t.plan.family.value == "constant_flow"),
            database=database,
            scenario=str(config.scenario) if config.scenario is not None else None,
        ),
        patient_years=round(patient_years, 4),
        visits=charges.refills,
        visits_per_patient_year=round(charges.refills / patient_years, 4) if patient_years else 0.0,
        alarms_before_refill=sum(1 for i in incidents if i.kind is IncidentKind.ALARM_BEFORE_REFILL),
        dry_pumps=len({i.serial for i in incidents if i.kind is IncidentKind.DRY}),
        incidents=incidents,
        faults=faults,
        detection_rate=round(len(detected) / len(faults), 4) if faults else None,
        mean_days_to_detection=(
            round(sum((f.detected_day or 0.0) - f.injected_day for f in detected) / len(detected), 3)
            if detected
            else None
        ),
        false_alarms=sum(t.false_alarms for t in truths),
        hard_stops=tally.hard_stops,
        safe_interval_fractions=fractions,
        mean_safe_interval_fraction=round(sum(fractions) / len(fractions), 4) if fractions else None,
        capacity_violations=sum(1 for d in loads if d.booked > d.capacity),
        capacity_per_day=tuple(loads),
        no_shows=no_shows,
        no_show_escalations=escalations,
        charge_sets=charges.one,
        visits_without_charges=charges.none,
        visits_with_duplicate_charges=charges.duplicated,
        wall_s=round(wall_s, 3),
        simulated_pump_days_per_s=round(patients * config.days / wall_s, 1) if wall_s > 0 else 0.0,
        samples=tuple(_trace(t, start) for t in truths if t.traced),
        false_alarm_causes=tuple(sorted(sum((t.false_alarm_causes for t in truths), Counter()).items())),
        faults_not_measurable=sum(t.faults_not_measurable() for t in truths),
    )
