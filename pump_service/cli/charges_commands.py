"""``pump-service charges list | export | void | dispatch``: the stored charge events."""

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from pump_service.billing import FolderDestination, HttpDestination
from pump_service.cli.context import CliContext, fail, handle_errors
from pump_service.persistence.db import transaction
from pump_service.scheduler.charge_dispatch import charge_dispatch_work
from pump_service.services.charges.dispatch import charge_destination, parse_export_format
from pump_service.services.charges.recording import export_charges, list_charges, void_charge
from pump_service.services.charges.views import ChargeView, charge_view

__all__ = ["register"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="billable, not-billable or entered-in-error")]
DeliveryOpt = Annotated[str | None, typer.Option("--delivery", help="pending, delivered, rejected or skipped")]
VisitOpt = Annotated[str | None, typer.Option("--visit", help="only this visit key")]
SinceOpt = Annotated[datetime | None, typer.Option("--since", help="recorded at or after (ISO time with offset)")]

charges_app = typer.Typer(no_args_is_help=True, help="Charge events: list, export, void, deliver.")


def _table(views: list[ChargeView]) -> str:
    if not views:
        return "no charge events"
    lines = [f"{'EVENT':<36} {'KIND':<6} {'VISIT':<24} {'CODE':<6} {'MODS':<8} {'UNITS':>5} {'STATUS':<16} DELIVERY"]
    for v in views:
        delivery = v.delivery_status.value + (f" ({v.attempts} tries)" if v.attempts > 1 else "")
        lines.append(
            f"{v.event_id:<36} {v.kind.value:<6} {v.visit_key[:24]:<24} {v.code:<6} {'+'.join(v.modifiers):<8} "
            f"{v.units:>5} {v.status.value:<16} {delivery}"
        )
    return "\n".join(lines)


@charges_app.command("list")
@handle_errors
def charges_list(
    status: StatusOpt = None,
    delivery: DeliveryOpt = None,
    visit: VisitOpt = None,
    since: SinceOpt = None,
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Stored charges, voids and credits, oldest first."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        rows = list_charges(session, status=status, delivery=delivery, since=since, visit_key=visit)
        views = [charge_view(row) for row in rows]
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
    else:
        print(_table(views))


@charges_app.command("export")
@handle_errors
def charges_export(
    fmt: Annotated[str, typer.Option("--format", help="fhir, hl7 or csv")] = "fhir",
    visit: VisitOpt = None,
    status: StatusOpt = None,
    delivery: DeliveryOpt = None,
    since: SinceOpt = None,
    output: Annotated[Path | None, typer.Option("--output", help="write to this file instead of stdout")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Stored events as a FHIR Bundle, HL7 v2 DFT^P03 messages (one per visit) or CSV."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        export = export_charges(
            session, fmt, now=ctx.clock.now(), visit_key=visit, status=status, delivery=delivery, since=since
        )
    if output is None:
        print(export.body, end="" if export.body.endswith(("\n", "\r")) else "\n")
    else:
        output.write_text(export.body, newline="")
        print(f"wrote {output}")


@charges_app.command("void")
@handle_errors
def charges_void(
    event_id: Annotated[str, typer.Argument(help="the charge's event id")],
    reason: Annotated[str, typer.Option("--reason", help="why the charge is wrong (no patient details)")],
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Void a charge (or credit it, if the billing system already has it); the original stays."""
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        view = charge_view(void_charge(session, event_id, reason=reason, actor=ctx.actor, now=ctx.clock.now()))
    print(f"{view.kind.value} {view.event_id} recorded for charge {event_id} ({view.code})")


@charges_app.command("dispatch")
@handle_errors
def charges_dispatch(
    to_url: Annotated[
        str | None, typer.Option("--to-url", help="POST to this URL instead of the configured one")
    ] = None,
    to_folder: Annotated[Path | None, typer.Option("--to-folder", help="write files to this folder instead")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="fhir, hl7 or csv (with --to-url/--to-folder)")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Deliver the pending charges that are due now (what the scheduler does each tick)."""
    ctx = CliContext.from_options(database_url, None)
    if to_url and to_folder:
        fail("give --to-url or --to-folder, not both")
    export = parse_export_format(fmt or getattr(ctx.settings, "charge_export_format", None) or "fhir")
    destination = (
        HttpDestination(to_url, export)
        if to_url
        else FolderDestination(to_folder, export)
        if to_folder
        else charge_destination(ctx.settings)
    )
    if destination is None:
        fail("no charge destination: set PUMP_CHARGE_DESTINATION_URL or PUMP_CHARGE_DROP_FOLDER, or give --to-url")
    engine = ctx.engine()
    try:
        report = charge_dispatch_work(engine, ctx.settings, ctx.clock, destination=destination)()
        with transaction(engine) as session:
            left = len(list_charges(session, delivery="pending"))
    finally:
        engine.dispose()
    for outcome in report.outcomes:
        detail = f" ({outcome.reason})" if outcome.reason else ""
        print(f"{outcome.event_id} {outcome.status.value} attempt {outcome.attempt}{detail}")
    counts = ", ".join(f"{status}: {n}" for status, n in sorted(report.counts.items())) or "nothing was due"
    print(f"{counts}; {left} pending")


def register(app: typer.Typer) -> None:
    app.add_typer(charges_app, name="charges")
