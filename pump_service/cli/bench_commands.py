"""``pump-service bench clinic``: a simulated clinic through this service, scored.

The test bench sits above the service (``testbench/``), so it is loaded with importlib here,
like the simulators in station_commands.py: the service never imports it statically.
"""

import importlib
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from pump_service.cli.context import handle_errors

__all__ = ["register"]

bench_app = typer.Typer(no_args_is_help=True, help="Test benches: the service driven by simulated clinics.")


def _quiet_service_log() -> None:
    """The service log at ``PUMP_LOG_LEVEL`` (warning by default): tick lines would drown the bar."""
    wanted = os.environ.get("PUMP_LOG_LEVEL", "warning").upper()
    level = logging.getLevelNamesMapping().get(wanted, logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))


def _module(name: str) -> Any:
    return importlib.import_module(name)  # testbench is above the service: never a static import


@bench_app.command("clinic")
@handle_errors
def bench_clinic(
    days: Annotated[int, typer.Option("--days", min=1, help="virtual days to run")] = 365,
    programmable: Annotated[int, typer.Option("--programmable", min=0, help="programmable-pump patients")] = 1000,
    constant_flow: Annotated[int, typer.Option("--constant-flow", min=0, help="constant-flow-pump patients")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="the generator's seed: same seed, same clinic")] = 1,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="a scenario file (JSON) instead of the generator")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite in a temporary directory)")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="directory for score.json and score.html")] = Path("clinic-score"),
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bar")] = False,
) -> None:
    """Run a clinic of simulated patients through the real service on a virtual clock, and score it."""
    config_module, clinic = _module("testbench.clinic_config"), _module("testbench.clinic")
    table, as_json = _module("testbench.report_table"), _module("testbench.report_json")
    html, progress = _module("testbench.report_html"), _module("testbench.report_progress")
    console_module = importlib.import_module("rich.console")
    _quiet_service_log()
    config = config_module.ClinicConfig(
        days=days,
        programmable=programmable,
        constant_flow=constant_flow,
        seed=seed,
        database_url=database_url,
        scenario=scenario,
    )
    with progress.progress_bar(float(config.days), enabled=not no_progress) as on_progress:
        score = clinic.run_clinic(config, on_progress=on_progress)
    table.print_score(score, console_module.Console())
    out.mkdir(parents=True, exist_ok=True)
    (out / "score.json").write_text(json.dumps(as_json.score_to_json(score), indent=2) + "\n", encoding="utf-8")
    (out / "score.html").write_text(html.score_html(score), encoding="utf-8")
    typer.echo(f"wrote {out / 'score.json'} and {out / 'score.html'}")


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
