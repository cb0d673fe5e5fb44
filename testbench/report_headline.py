"""The headline figures of a clinic score, each with its target and verdict, for every renderer.

The terminal table and the HTML page show the same rows in the same words, so the figures and
their targets are decided once, here. A target comes from the issue that asked for the bench
(zero dry pumps, exactly one set of charges per visit, a one-year clinic of 1,000 + 500 patients
in under five minutes); where the issue gives none the row has no verdict.
"""

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from testbench.score import ClinicScore, IncidentCause, IncidentKind

__all__ = ["HeadlineRow", "Verdict", "format_day", "headline_rows", "run_summary"]

# The wall-time target holds for a one-year clinic of this size (or larger) on 2 cores.
WALL_TARGET_S = 300.0
WALL_TARGET_DAYS = 365
WALL_TARGET_PROGRAMMABLE = 1000
WALL_TARGET_CONSTANT_FLOW = 500


class Verdict(StrEnum):
    MET = "met"
    MISSED = "missed"
    NOT_JUDGED = "not judged"  # no target, or the run is not the size the target is for


@dataclass(frozen=True, slots=True)
class HeadlineRow:
    label: str
    value: str
    target: str  # "" when the issue gives no target
    verdict: Verdict


def format_day(day: float) -> str:
    """A virtual day for the reader: one decimal (2.4 h), enough to tell a visit from the next."""
    return f"{day:.1f}"


def _judge(met: bool) -> Verdict:
    return Verdict.MET if met else Verdict.MISSED


def _count(value: int, noun: str) -> str:
    return f"{value:,} {noun}" if value == 1 else f"{value:,} {noun}s"


def _alarm_rows(score: ClinicScore) -> list[HeadlineRow]:
    kinds = Counter(incident.kind for incident in score.incidents)
    forecast_misses = sum(1 for incident in score.incidents if incident.cause is IncidentCause.FORECAST)
    alarms_explained = kinds[IncidentKind.ALARM_BEFORE_REFILL] >= score.alarms_before_refill
    dry_explained = kinds[IncidentKind.DRY] >= score.dry_pumps
    return [
        HeadlineRow(
            "Pumps at the low-reservoir alarm before their refill",
            f"{score.alarms_before_refill:,}",
            "each one explained",
            _judge(alarms_explained),
        ),
        HeadlineRow("Pumps that ran dry", f"{score.dry_pumps:,}", "0", _judge(score.dry_pumps == 0 and dry_explained)),
        HeadlineRow(
            "Incidents the service's forecast caused", f"{forecast_misses:,}", "0", _judge(forecast_misses == 0)
        ),
    ]


def _fault_rows(score: ClinicScore) -> list[HeadlineRow]:
    detected = sum(1 for fault in score.faults if fault.detected_day is not None)
    if score.detection_rate is None:
        rate = HeadlineRow("Injected faults detected at the next visit", "none injected", "100%", Verdict.NOT_JUDGED)
    else:
        value = f"{score.detection_rate:.0%} ({detected:,} of {len(score.faults):,})"
        rate = HeadlineRow(
            "Injected faults detected at the next visit", value, "100%", _judge(score.detection_rate >= 1.0)
        )
    days = "—" if score.mean_days_to_detection is None else f"{score.mean_days_to_detection:.1f} d"
    causes = ", ".join(f"{cause} {count:,}" for cause, count in score.false_alarm_causes)
    alarms = f"{score.false_alarms:,}" + (f" ({causes})" if causes else "")
    return [
        rate,
        HeadlineRow("Mean time from fault to detection", days, "", Verdict.NOT_JUDGED),
        HeadlineRow("False alarms (a fault flagged on a pump that had none), by cause", alarms, "", Verdict.NOT_JUDGED),
        HeadlineRow(
            "Faults no return could show before the end (not judged)",
            f"{score.faults_not_measurable:,}",
            "",
            Verdict.NOT_JUDGED,
        ),
        HeadlineRow("Hard stops raised", f"{score.hard_stops:,}", "", Verdict.NOT_JUDGED),
    ]


def _visit_rows(score: ClinicScore) -> list[HeadlineRow]:
    per_year = f"{score.visits_per_patient_year:.1f} ({score.visits:,} in {score.patient_years:,.1f} patient-years)"
    fraction = "—" if score.mean_safe_interval_fraction is None else f"{score.mean_safe_interval_fraction:.0%}"
    over = sum(1 for value in score.safe_interval_fractions if value > 1.0)
    if over:
        fraction += f" ({_count(over, 'refill')} past the safe interval)"
    escalated = f"{score.no_shows:,} ({score.no_show_escalations:,} escalated)"
    return [
        HeadlineRow("Refill visits per patient-year", per_year, "", Verdict.NOT_JUDGED),
        HeadlineRow("Mean fraction of the safe interval used", fraction, "", Verdict.NOT_JUDGED),
        HeadlineRow(
            "Days booked over capacity", f"{score.capacity_violations:,}", "0", _judge(score.capacity_violations == 0)
        ),
        HeadlineRow("No-shows", escalated, "each one escalated", _judge(score.no_show_escalations >= score.no_shows)),
    ]


def _charge_row(score: ClinicScore) -> HeadlineRow:
    value = (
        f"{score.charge_sets:,} of {_count(score.visits, 'visit')} with one set; "
        f"{score.visits_without_charges:,} missing; {score.visits_with_duplicate_charges:,} duplicated"
    )
    exact = (
        score.charge_sets == score.visits
        and score.visits_without_charges == 0
        and score.visits_with_duplicate_charges == 0
    )
    return HeadlineRow("Charges against visits", value, "exactly one set per visit", _judge(exact))


def _speed_rows(score: ClinicScore) -> list[HeadlineRow]:
    facts = score.facts
    sized = (
        facts.days >= WALL_TARGET_DAYS
        and facts.programmable >= WALL_TARGET_PROGRAMMABLE
        and facts.constant_flow >= WALL_TARGET_CONSTANT_FLOW
    )
    target = f"< {WALL_TARGET_S:.0f} s for 1 year of 1,000 + 500 patients"
    wall = _judge(score.wall_s < WALL_TARGET_S) if sized else Verdict.NOT_JUDGED
    return [
        HeadlineRow("Wall time", f"{score.wall_s:,.1f} s", target, wall),
        HeadlineRow(
            "Simulated pump-days per second", f"{score.simulated_pump_days_per_s:,.0f}", "", Verdict.NOT_JUDGED
        ),
    ]


def headline_rows(score: ClinicScore) -> tuple[HeadlineRow, ...]:
    """The report's headline, in reading order: safety first, then faults, visits, charges, speed."""
    return (
        *_alarm_rows(score),
        *_fault_rows(score),
        *_visit_rows(score),
        _charge_row(score),
        *_speed_rows(score),
    )


def run_summary(score: ClinicScore) -> str:
    """One line saying what was scored: the run's size, seed, database and scenario."""
    facts = score.facts
    scenario = f", scenario {facts.scenario}" if facts.scenario else ""
    return (
        f"{facts.days:,} virtual days, {facts.programmable:,} programmable and {facts.constant_flow:,} "
        f"constant-flow patients, seed {facts.seed}, {facts.database}{scenario}"
    )
