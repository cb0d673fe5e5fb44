"""``pump-service pumps replace | set-model``: hardware changes, each attributed to ``--actor``."""

import json
from datetime import datetime
from typing import Annotated

import typer

from pump_service.cli.context import CliContext, handle_errors
from pump_service.services.contracts import ModelCorrection, PumpReplacement
from pump_service.services.pumps.hardware import change_pump_model, replace_pump

__all__ = ["register"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why, e.g. 'ERI', 'entered as the 40 mL model'")]


@handle_errors
def replace(
    serial: Annotated[str, typer.Argument(help="the pump taken out")],
    new_serial: Annotated[str, typer.Option("--serial", help="the new pump's serial")],
    model: Annotated[str, typer.Option("--model", help="the new pump's catalogue id")],
    route: Annotated[str, typer.Option("--route", help="the new pump's route")],
    reason: ReasonOpt,
    rate: Annotated[str | None, typer.Option("--rate", help="constant-flow: the new unit's labelled rate")] = None,
    rx: Annotated[str | None, typer.Option("--rx", help="programmable: its prescription as JSON")] = None,
    at: Annotated[
        datetime | None, typer.Option("--at", help="when it was replaced, ISO with offset (default now)")
    ] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Explant a pump and register its replacement for the same patient (both histories kept)."""
    entry = PumpReplacement.model_validate(
        {
            "serial": new_serial,
            "model_id": model,
            "route": route,
            "nominal_rate_ml_per_day": rate,
            "prescription": json.loads(rx) if rx else None,
            "implanted_at": at,
            "reason": reason,
        }
    )
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        done = replace_pump(session, serial, entry, actor=ctx.actor, now=ctx.clock.now())
        closed = len(done.closed_appointments)
    print(f"pump {serial} explanted, replaced by {new_serial}; {closed} booked appointment(s) cancelled")


@handle_errors
def set_model(
    serial: str,
    model: Annotated[str, typer.Option("--model", help="the right catalogue id (same family)")],
    reason: ReasonOpt,
    rate: Annotated[str | None, typer.Option("--rate", help="constant-flow: the labelled rate, if also wrong")] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Correct the model a pump was registered under (a wrong entry; same family only)."""
    entry = ModelCorrection.model_validate({"model_id": model, "reason": reason, "nominal_rate_ml_per_day": rate})
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        pump = change_pump_model(session, serial, entry, actor=ctx.actor, now=ctx.clock.now())
        model_id = pump.model_id
    print(f"pump {serial} is now registered as {model_id}")


def register(pumps_app: typer.Typer) -> None:
    """Add the hardware-change commands to ``pump-service pumps``."""
    pumps_app.command("replace")(replace)
    pumps_app.command("set-model")(set_model)
