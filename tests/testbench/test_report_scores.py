"""Hand-built clinic scores for the report tests, and the headline's verdicts on them.

``clinic_score()`` is a realistic small run (90 days, 12 programmable and 8 constant-flow
patients) with every kind of evidence: incidents of each cause, faults detected and missed,
sampled trajectories with bookings and refills, and two days booked over capacity.
"""

from dataclasses import replace

from testbench.report_headline import Verdict, headline_rows
from testbench.score import (
    ClinicScore,
    DayLoad,
    FaultOutcome,
    Incident,
    IncidentCause,
    IncidentKind,
    PumpTrace,
    RunFacts,
)

HOSTILE_SERIAL = '<script>alert("x")</script>&[bold]SM20'
OVER_CAPACITY_DAYS = (17, 52)
DAYS = 90


def sawtooth(serial: str, *, family: str, capacity_ml: float, alarm_ml: float, rate_ml_per_day: float,
             refills: tuple[float, ...]) -> PumpTrace:  # fmt: skip
    """A pump drawn down at a constant rate and filled to capacity at each refill, sampled twice a day."""
    times: list[float] = []
    volumes: list[float] = []
    volume, last = capacity_ml, 0.0
    for step in range(DAYS * 2 + 1):
        day = step / 2
        volume = max(0.0, volume - rate_ml_per_day * (day - last))
        last = day
        if any(last - 0.5 < refill <= day for refill in refills):
            times.append(day)
            volumes.append(round(volume, 3))
            volume = capacity_ml
        times.append(day)
        volumes.append(round(volume, 3))
    bookings = (*tuple(refill - 0.25 for refill in refills), DAYS - 1.0)
    return PumpTrace(serial, family, capacity_ml, alarm_ml, tuple(times), tuple(volumes), bookings, refills)


def clinic_score() -> ClinicScore:
    incidents = (
        Incident("SM20-0003", IncidentKind.ALARM_BEFORE_REFILL, 41.5, IncidentCause.NO_SHOW,
                 "no-show on day 40, rebooked day 44"),
        Incident("CF40-0102", IncidentKind.DRY, 63.25, IncidentCause.FAULT, "leak from day 55 doubled the flow"),
        Incident("SM20-0011", IncidentKind.ALARM_BEFORE_REFILL, 17.0, IncidentCause.CAPACITY,
                 "no slot before day 18: clinic full days 15-17"),
        Incident(HOSTILE_SERIAL, IncidentKind.ALARM_BEFORE_REFILL, 80.75, IncidentCause.FORECAST,
                 "forecast 3 days late <b>unexplained</b>"),
    )  # fmt: skip
    faults = (
        FaultOutcome("SM20-0007", "occlusion", 12.0, 28.5, ("occlusion_suspected",)),
        FaultOutcome("CF40-0102", "leak", 55.0, 64.0, ("flow_above_expected", "volume_discrepancy")),
        FaultOutcome("CF40-0105", "pocket_fill", 70.0, None),
    )
    samples = (
        sawtooth("SM20-0003", family="programmable", capacity_ml=20.0, alarm_ml=2.0, rate_ml_per_day=0.45,
                 refills=(30.0, 44.0, 75.0)),
        sawtooth("CF40-0102", family="constant_flow", capacity_ml=40.0, alarm_ml=3.0, rate_ml_per_day=1.0,
                 refills=(28.0, 64.0)),
        sawtooth(HOSTILE_SERIAL, family="programmable", capacity_ml=20.0, alarm_ml=2.0, rate_ml_per_day=0.3,
                 refills=(50.0,)),
    )  # fmt: skip
    days = tuple(
        DayLoad(day, 5 if day in OVER_CAPACITY_DAYS else day % 4, 4) for day in range(DAYS) if day % 7 not in (5, 6)
    )
    fractions = (0.05, 0.42, 0.55, 0.61, 0.68, 0.7, 0.74, 0.75, 0.8, 0.81, 0.85, 0.9, 0.93, 0.97, 1.0, 1.08)
    return ClinicScore(
        facts=RunFacts(seed=7, days=DAYS, programmable=12, constant_flow=8, database="sqlite"),
        patient_years=20 * DAYS / 365.25,
        visits=48,
        visits_per_patient_year=48 / (20 * DAYS / 365.25),
        alarms_before_refill=3,
        dry_pumps=1,
        incidents=incidents,
        faults=faults,
        detection_rate=2 / 3,
        mean_days_to_detection=12.75,
        false_alarms=1,
        hard_stops=2,
        safe_interval_fractions=fractions,
        mean_safe_interval_fraction=sum(fractions) / len(fractions),
        capacity_violations=len(OVER_CAPACITY_DAYS),
        capacity_per_day=days,
        no_shows=3,
        no_show_escalations=2,
        charge_sets=46,
        visits_without_charges=1,
        visits_with_duplicate_charges=1,
        wall_s=4.217,
        simulated_pump_days_per_s=20 * DAYS / 4.217,
        samples=samples,
    )


def clean_score() -> ClinicScore:
    """The same run with nothing gone wrong: every target met (or not judged)."""
    score = clinic_score()
    return replace(
        score, alarms_before_refill=0, dry_pumps=0, incidents=(), faults=(), detection_rate=None,
        mean_days_to_detection=None, false_alarms=0, capacity_violations=0,
        capacity_per_day=tuple(replace(day, booked=min(day.booked, day.capacity)) for day in score.capacity_per_day),
        no_shows=0, no_show_escalations=0, charge_sets=48, visits_without_charges=0, visits_with_duplicate_charges=0,
    )  # fmt: skip


def _verdicts(score: ClinicScore) -> dict[str, Verdict]:
    return {row.label: row.verdict for row in headline_rows(score)}


def test_a_run_with_dry_pumps_and_missing_charges_misses_those_targets() -> None:
    verdicts = _verdicts(clinic_score())
    assert verdicts["Pumps that ran dry"] is Verdict.MISSED
    assert verdicts["Charges against visits"] is Verdict.MISSED
    assert verdicts["Days booked over capacity"] is Verdict.MISSED
    assert verdicts["Injected faults detected at the next visit"] is Verdict.MISSED
    assert verdicts["No-shows"] is Verdict.MISSED  # 3 no-shows, 2 escalations
    assert verdicts["Incidents the service's forecast caused"] is Verdict.MISSED
    assert verdicts["Pumps at the low-reservoir alarm before their refill"] is Verdict.MET  # all 3 explained


def test_a_clean_run_meets_every_target_it_is_judged_on() -> None:
    verdicts = _verdicts(clean_score())
    assert Verdict.MISSED not in verdicts.values()
    assert verdicts["Pumps that ran dry"] is Verdict.MET
    assert verdicts["Charges against visits"] is Verdict.MET
    assert verdicts["Injected faults detected at the next visit"] is Verdict.NOT_JUDGED  # nothing injected


def test_an_alarm_without_an_incident_is_unexplained() -> None:
    score = replace(clean_score(), alarms_before_refill=1)
    assert _verdicts(score)["Pumps at the low-reservoir alarm before their refill"] is Verdict.MISSED


def test_wall_time_is_judged_only_for_a_clinic_the_size_of_the_target() -> None:
    small = clean_score()
    year = replace(small, facts=replace(small.facts, days=365, programmable=1000, constant_flow=500))
    assert _verdicts(small)["Wall time"] is Verdict.NOT_JUDGED
    assert _verdicts(replace(year, wall_s=299.0))["Wall time"] is Verdict.MET
    assert _verdicts(replace(year, wall_s=301.0))["Wall time"] is Verdict.MISSED
