"""How a clinic run is set up: the fleet's size, the span, the seed and the rates of what goes wrong.

A :class:`ClinicConfig` is everything :func:`testbench.clinic.run_clinic` needs; the generator
(``clinic_population.py``) draws every patient from it with the seed, or a scenario file
(``clinic_scenario.py``) names the patients and their faults one by one.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["START_AT", "ClinicConfig", "ClinicRates"]

# A Monday inside the packaged billing tables: every run starts here, so a seed names one run.
START_AT = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ClinicRates:
    """Seeded probabilities: per appointment (attendance), per pump-year (faults), per frame (link)."""

    no_show: float = 0.03  # the patient does not come; the front desk records a no-show at the escalation
    late_arrival: float = 0.04  # the patient comes one to three days after the booked day
    occlusion_per_year: float = 0.04  # constant-flow catheter occlusions (partial or total)
    leak_per_year: float = 0.03
    pocket_fill_per_year: float = 0.03  # part of one refill goes into the pocket
    precipitate_per_year: float = 0.02  # drug precipitating in a constant-flow restrictor
    programmer_frame_error_rate: float = 0.002  # corrupted programmer frames (the driver retries)
    programmer_drop_rate: float = 0.002  # lost programmer answers
    battery_eri_within_run: float = 0.05  # programmable pumps whose battery reaches ERI during the run


@dataclass(frozen=True, slots=True)
class ClinicConfig:
    """One run: ``programmable`` + ``constant_flow`` patients over ``days`` virtual days.

    ``database_url`` None: a migrated SQLite file in a temporary directory. ``tick_grid_minutes``:
    the scheduler wakes at its next pending decision rounded up to this grid, as a tick job that
    runs every so often would (reminders go out at most that late; nothing is decided early).
    """

    days: int = 365
    programmable: int = 1000
    constant_flow: int = 500
    seed: int = 1
    database_url: str | None = None
    scenario: Path | None = None
    rates: ClinicRates = field(default_factory=ClinicRates)
    tick_grid_minutes: int = 60
    traced_pumps: int = 8
    max_visit_attempts: int = 3  # a nurse retries a visit the programmer link broke off
    start_at: datetime = START_AT

    def __post_init__(self) -> None:
        if self.days <= 0 or self.programmable < 0 or self.constant_flow < 0:
            raise ValueError("days must be positive and the patient counts not negative")
        if self.programmable + self.constant_flow == 0 and self.scenario is None:
            raise ValueError("a clinic needs at least one patient")
        if self.tick_grid_minutes <= 0 or self.max_visit_attempts <= 0:
            raise ValueError("tick_grid_minutes and max_visit_attempts must be positive")
