"""The clinic-year: 1,000 programmable and 500 constant-flow patients for a year through the real service."""

import logging

import structlog

from bench import Result
from testbench.clinic import run_clinic
from testbench.clinic_config import ClinicConfig


def run() -> list[Result]:
    # A tick logs one info line per virtual hour with decisions: thousands in a year.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    score = run_clinic(ClinicConfig(days=365, programmable=1000, constant_flow=500, seed=1))
    return [
        Result("clinic_year.wall_s", score.wall_s, "s", False),
        Result("clinic_year.dry_pumps", float(score.dry_pumps), "pumps", False),
        Result("clinic_year.alarms_before_refill", float(score.alarms_before_refill), "alarms", False),
        Result("clinic_year.visits", float(score.visits), "visits", True),
        Result("clinic_year.pump_days_per_s", score.simulated_pump_days_per_s, "pump-days/s", True),
    ]
