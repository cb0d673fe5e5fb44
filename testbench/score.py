"""What a clinic run is scored on: the figures of the report, and the evidence behind each one.

The engine (``clinic.py``) fills a :class:`ClinicScore`; the renderers (``report_*.py``) only
read it. Days are virtual days from the start of the run; volumes are true volumes (what the
simulated pump holds), not what the service believes.
"""

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "ClinicScore",
    "DayLoad",
    "FaultOutcome",
    "Incident",
    "IncidentCause",
    "IncidentKind",
    "PumpTrace",
    "RunFacts",
]


class IncidentKind(StrEnum):
    ALARM_BEFORE_REFILL = "alarm_before_refill"  # the pump reached its low-reservoir alarm (or floor) first
    DRY = "dry"  # the true volume reached zero: the patient got nothing


class IncidentCause(StrEnum):
    """Why an alarm or a dry pump happened; every incident names one."""

    NO_SHOW = "no_show"  # the patient missed the booked visit
    LATE_ARRIVAL = "late_arrival"  # came, but after the pump had alarmed
    FAULT = "fault"  # an injected pump fault (leak, occlusion, pocket fill...) changed the flow
    CAPACITY = "capacity"  # no slot before the forecast alarm within the clinic's calendar
    LINK_FAULT = "link_fault"  # the programmer link failed and the refill could not be recorded
    HARD_STOP = "hard_stop"  # the visit met a hard stop and no refill was recorded
    FORECAST = "forecast"  # none of the above: the service's forecast was wrong (a bug to chase)


@dataclass(frozen=True, slots=True)
class Incident:
    serial: str
    kind: IncidentKind
    at_day: float
    cause: IncidentCause
    detail: str  # one line for the reader: what happened, e.g. "no-show on day 41, rebooked day 44"


@dataclass(frozen=True, slots=True)
class FaultOutcome:
    """One injected fault and whether the service flagged it at the next visit."""

    serial: str
    kind: str  # "occlusion", "leak", "pocket_fill", ...
    injected_day: float
    detected_day: float | None  # the visit whose findings flagged it; None: never flagged
    finding_codes: tuple[str, ...] = ()
    explanation: str = ""  # an undetected fault: what it changed at the visit that judged it, and what masked it


@dataclass(frozen=True, slots=True)
class DayLoad:
    """One clinic day: visits booked against its capacity (a violation when booked > capacity)."""

    day: int
    booked: int
    capacity: int


@dataclass(frozen=True, slots=True)
class PumpTrace:
    """A sampled pump's true reservoir over the run, with its bookings and refills (for the figures)."""

    serial: str
    family: str  # "programmable" | "constant_flow"
    capacity_ml: float
    alarm_ml: float  # the low-reservoir alarm (programmable) or residual floor (constant-flow)
    times_days: tuple[float, ...]
    volume_ml: tuple[float, ...]
    bookings_days: tuple[float, ...]
    refills_days: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RunFacts:
    """How the run was set up, so a report says what it scored."""

    seed: int
    days: int
    programmable: int
    constant_flow: int
    database: str  # the masked URL's backend: "sqlite" | "postgresql"
    scenario: str | None = None  # the scenario file, if one was used


@dataclass(frozen=True, slots=True)
class ClinicScore:
    facts: RunFacts
    patient_years: float
    visits: int  # refills recorded through the service
    visits_per_patient_year: float
    alarms_before_refill: int
    dry_pumps: int
    incidents: tuple[Incident, ...]  # every alarm and every dry pump, explained
    faults: tuple[FaultOutcome, ...]
    detection_rate: float | None  # detected / injected (None: nothing injected)
    mean_days_to_detection: float | None
    false_alarms: int  # visits whose findings flagged a fault on a pump that had none
    hard_stops: int
    safe_interval_fractions: tuple[float, ...]  # per refill: days used / days the pump could safely go
    mean_safe_interval_fraction: float | None
    capacity_violations: int
    capacity_per_day: tuple[DayLoad, ...]
    no_shows: int
    no_show_escalations: int  # overdue escalations the scheduler raised for them
    charge_sets: int  # visits with exactly one set of charge events
    visits_without_charges: int
    visits_with_duplicate_charges: int
    wall_s: float
    simulated_pump_days_per_s: float
    samples: tuple[PumpTrace, ...] = field(default=())
    # false alarms by their main cause: flow_spread, fever, flight, mountain_stay, syringe_resolution, ...
    false_alarm_causes: tuple[tuple[str, int], ...] = field(default=())
    faults_not_measurable: int = 0  # injected faults that never moved a return enough for any check before the end
