"""The clinic-year: 1,000 programmable and 500 constant-flow patients for a year through the real service."""

import logging

import structlog

from bench import Result
from bench.sizes import sized
from testbench.clinic import run_clinic
from testbench.clinic_config import ClinicConfig

# A smoke run: a few patients for a few weeks, long enough for refills, reminders and charges.
CLINIC = sized(
    ClinicConfig(days=365, programmable=1000, constant_flow=500, seed=1),
    ClinicConfig(days=28, programmable=4, constant_flow=3, seed=1),
)


def run() -> list[Result]:
    # A tick logs one info line per virtual hour with decisions: thousands in a year.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    score = run_clinic(CLINIC)
    return [
        Result("clinic_year.wall_s", score.wall_s, "s", False),
        Result("clinic_year.dry_pumps", float(score.dry_pumps), "pumps", False),
        Result("clinic_year.alarms_before_refill", float(score.alarms_before_refill), "alarms", False),
        Result("clinic_year.visits", float(score.visits), "visits", True),
        Result("clinic_year.pump_days_per_s", score.simulated_pump_days_per_s, "pump-days/s", True),
    ]
