"""``pump-service charges list | batch | export | void | dispatch | billing``: the stored charge events."""

import json
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from pump_service.billing import FolderDestination, HttpDestination
from pump_service.cli.context import CliContext, fail, handle_errors
from pump_service.errors import RuleViolationError
from pump_service.persistence.db import transaction
from pump_service.scheduler.charge_dispatch import charge_dispatch_work
from pump_service.services.charges import (
    charge_batch,
    clinic_billing_history,
    export_charges,
    list_charge_page,
    list_charges,
    set_clinic_billing,
    void_charge,
)
from pump_service.services.charges.contracts import (
    DEFAULT_PAGE_LIMIT,
    ChargeQuery,
    ChargeView,
    ClinicBillingEntry,
    parse_model,
)
from pump_service.services.charges.dispatch import charge_destination, parse_export_format
from pump_service.services.charges.views import charge_view

__all__ = ["register"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]
StatusOpt = Annotated[
    str | None, typer.Option("--status", help="billable, not-billable, entered-in-error, voided or credited")
]
DeliveryOpt = Annotated[str | None, typer.Option("--delivery", help="pending, delivered, rejected or skipped")]
VisitOpt = Annotated[str | None, typer.Option("--visit", help="only this visit key")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="date of service on or after (YYYY-MM-DD)")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="date of service on or before (YYYY-MM-DD)")]
RecordedOpt = Annotated[
    datetime | None, typer.Option("--recorded-since", help="recorded at or after (ISO time with offset)")
]
PayerOpt = Annotated[str | None, typer.Option("--payer", help="payer profile id")]
ClinicOpt = Annotated[str | None, typer.Option("--clinic", help="clinic id")]
LimitOpt = Annotated[int, typer.Option("--limit", help="page size (1-500)")]
CursorOpt = Annotated[str | None, typer.Option("--cursor", help="the next cursor printed by the previous page")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]

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


def _query(**raw: Any) -> ChargeQuery:
    return parse_model(ChargeQuery, raw)


@charges_app.command("list")
@handle_errors
def charges_list(
    status: StatusOpt = None,
    delivery: DeliveryOpt = None,
    visit: VisitOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    recorded_since: RecordedOpt = None,
    payer: PayerOpt = None,
    clinic: ClinicOpt = None,
    limit: LimitOpt = DEFAULT_PAGE_LIMIT,
    cursor: CursorOpt = None,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stored charges, voids and credits in recording order, one page at a time."""
    query = _query(
        status=status,
        delivery=delivery,
        visit_key=visit,
        service_from=since,
        service_to=until,
        recorded_since=recorded_since,
        payer_profile=payer,
        clinic=clinic,
        limit=limit,
        cursor=cursor,
    )
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        page = list_charge_page(session, query)
    if as_json:
        print(page.model_dump_json(indent=2))
        return
    print(_table(page.items))
    if page.next_cursor:
        print(f"more: --cursor {page.next_cursor}")


@charges_app.command("batch")
@handle_errors
def charges_batch(
    clinic: Annotated[str, typer.Option("--clinic", help="clinic id")],
    day: Annotated[str, typer.Option("--date", help="date of service (YYYY-MM-DD)")],
    limit: LimitOpt = DEFAULT_PAGE_LIMIT,
    cursor: CursorOpt = None,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A clinic's daily batch: lines, units and totals by payer for one date of service."""
    try:
        service_date = date.fromisoformat(day)
    except ValueError:
        raise RuleViolationError(f"--date {day!r} is not YYYY-MM-DD", field="date") from None
    _query(limit=limit, cursor=cursor)  # the same bounds as every list
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        batch = charge_batch(session, clinic=clinic, service_date=service_date, limit=limit, cursor=cursor)
    if as_json:
        print(batch.model_dump_json(indent=2))
        return
    print(
        f"clinic {batch.clinic}, {batch.service_date}: {batch.visits} visits, {batch.lines} lines, "
        f"{batch.billable_lines} billable, {batch.units} units"
    )
    for total in batch.totals:
        unpriced = f", {total.unpriced_lines} unpriced" if total.unpriced_lines else ""
        print(
            f"  {total.payer_profile:<24} {total.lines:>3} lines {total.units:>4} units "
            f"${total.expected_allowable_usd:,.2f}{unpriced}"
        )
    print(_table(batch.items))
    if batch.next_cursor:
        print(f"more: --cursor {batch.next_cursor}")


@charges_app.command("export")
@handle_errors
def charges_export(
    fmt: Annotated[str, typer.Option("--format", help="fhir, hl7 or csv")] = "fhir",
    visit: VisitOpt = None,
    status: StatusOpt = None,
    delivery: DeliveryOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    payer: PayerOpt = None,
    clinic: ClinicOpt = None,
    output: Annotated[Path | None, typer.Option("--output", help="write to this file instead of stdout")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing --output file")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Every matching event as a FHIR Bundle, HL7 v2 DFT^P03 messages (one per visit) or CSV.

    An unknown --visit is an error (exit 2), and --output never overwrites a file without --force.
    """
    query = _query(
        status=status,
        delivery=delivery,
        visit_key=visit,
        service_from=since,
        service_to=until,
        payer_profile=payer,
        clinic=clinic,
    )
    if output is not None and output.exists() and not force:
        raise RuleViolationError(f"{output} exists: give --force to overwrite it", field="output")
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        export = export_charges(session, fmt, now=ctx.clock.now(), query=query)
    if output is None:
        print(export.body, end="" if export.body.endswith(("\n", "\r")) else "\n")
        return
    # Write beside the target and rename, so a failed write never leaves half a file behind.
    partial = output.with_name(f".{output.name}.part")
    partial.write_text(export.body, newline="")
    partial.replace(output)
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
            left = len(list_charges(session, _query(delivery="pending")))
    finally:
        engine.dispose()
    for outcome in report.outcomes:
        detail = f" ({outcome.reason})" if outcome.reason else ""
        print(f"{outcome.event_id} {outcome.status.value} attempt {outcome.attempt}{detail}")
    counts = ", ".join(f"{status}: {n}" for status, n in sorted(report.counts.items())) or "nothing was due"
    print(f"{counts}; {left} pending")


@charges_app.command("billing")
@handle_errors
def charges_billing(
    clinic: Annotated[str, typer.Argument(help="clinic id")],
    file: Annotated[
        Path | None,
        typer.Option("--file", help="TOML: [clinic] defaults and [profiles.<id>] as in profiles.toml; adds a version"),
    ] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the clinic's billing set-up versions, or store a new version from --file."""
    ctx = CliContext.from_options(database_url, actor if file else None)
    with ctx.session() as session:
        if file is None:
            views = clinic_billing_history(session, clinic)
        else:
            views = [set_clinic_billing(session, clinic, _billing_entry(file), actor=ctx.actor, now=ctx.clock.now())]
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return
    if not views:
        print(f"clinic {clinic} uses the packaged billing data and the station's defaults")
    for v in views:
        print(
            f"v{v.version} from {v.effective_from}: jurisdiction {v.jurisdiction or '-'}, "
            f"POS {v.place_of_service or '-'}, profile {v.payer_profile or '-'}, "
            f"own profiles {', '.join(v.profiles) or '-'} "
            f"({v.created_by}@{v.station_id} {v.created_at:%Y-%m-%d %H:%M}Z)"
        )


def _billing_entry(path: Path) -> ClinicBillingEntry:
    """Read a clinic billing file: ``[clinic]`` (effective_from, jurisdiction, ...) and ``[profiles]``."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleViolationError(f"{path}: {exc}", field="file") from exc
    clinic = dict(document.pop("clinic", {}))
    profiles = document.pop("profiles", {})
    if document:
        raise RuleViolationError(
            f"{path}: unknown table {sorted(document)[0]!r} (only [clinic], [profiles])", field="file"
        )
    raw = {**clinic, "profiles": json.loads(json.dumps(profiles, default=str))}
    return parse_model(ClinicBillingEntry, raw)


def register(app: typer.Typer) -> None:
    app.add_typer(charges_app, name="charges")
