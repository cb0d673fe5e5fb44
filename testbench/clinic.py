"""``run_clinic``: a simulated clinic through the real service on a virtual clock, scored.

The pieces, one module each: ``clinic_config`` (the run's set-up), ``clinic_population`` (the
seeded patients) or ``clinic_scenario`` (a scenario file), ``clinic_service`` (the migrated
database, calendar and registry), ``clinic_loop`` (the event loop and the scheduler's ticks),
``clinic_nurse`` (a visit), ``clinic_truth`` (what really happened to each pump) and
``clinic_scoring`` (the :class:`~testbench.score.ClinicScore`).
"""

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import make_url

from testbench.clinic_config import ClinicConfig
from testbench.clinic_loop import run_loop
from testbench.clinic_population import generate_population
from testbench.clinic_scenario import load_scenario
from testbench.clinic_scoring import score_run
from testbench.clinic_service import open_service
from testbench.score import ClinicScore

__all__ = ["run_clinic"]


def run_clinic(config: ClinicConfig, *, on_progress: Callable[[float], None] | None = None) -> ClinicScore:
    """Run ``config``'s clinic and score it; ``on_progress`` gets the virtual day reached."""
    if config.scenario is not None:
        config, plans = load_scenario(config.scenario, config)
    else:
        plans = generate_population(config)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="clinic-") as tmp:
        url = config.database_url or f"sqlite:///{Path(tmp) / 'clinic.db'}"
        service = open_service(config, plans, database_url=url, run_id=uuid.uuid4().hex[:12])
        try:
            tally = run_loop(config, service, plans, on_progress)
            wall_s = time.perf_counter() - started
            backend = make_url(url).get_backend_name()
            return score_run(config, service.engine, tally, database=backend, wall_s=wall_s)
        finally:
            service.engine.dispose()
