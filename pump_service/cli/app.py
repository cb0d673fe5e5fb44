"""The ``pump-service`` command: serve, migrate, info, pumps, patients, refill, visit, due."""

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from pump_service.cli import (
    account_commands,
    audit_commands,
    backup_commands,
    bench_commands,
    charges_commands,
    pump_commands,
    schedule_commands,
    station_commands,
    visit_commands,
)
from pump_service.cli.components import parse_component
from pump_service.cli.context import CliContext, fail, handle_errors
from pump_service.cli.cosign import cosign_refill
from pump_service.cli.info import gather_info, render_info
from pump_service.cli.output import due_table, local, plan_report, pump_detail, pump_table, refill_report
from pump_service.locations import masked_url
from pump_service.services.actor import SYSTEM_USER, Actor, acting_as
from pump_service.services.contracts import ConditionEntry, PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.conditions import record_conditions
from pump_service.services.pumps.due_list import list_due
from pump_service.services.pumps.registry import (
    list_pump_views,
    register_patient,
    register_pump,
    show_pump,
)
from pump_service.services.visits.plan_views import plan_view
from pump_service.services.visits.preview import start_visit
from pump_service.services.visits.refill_visit import complete_visit, plan_visit

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Implanted drug pump refill service.")
pumps_app = typer.Typer(no_args_is_help=True, help="Register and inspect pumps.")
patients_app = typer.Typer(no_args_is_help=True, help="Register patients by pseudonymous reference.")
refill_app = typer.Typer(no_args_is_help=True, help="Record refills.")
app.add_typer(pumps_app, name="pumps")
app.add_typer(patients_app, name="patients")
app.add_typer(refill_app, name="refill")

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="PUMP_DATABASE_URL",
        help="SQLAlchemy URL (default: pump.db in the data directory, $PUMP_HOME; see `pump-service info`)",
    ),
]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
InstanceOpt = Annotated[
    str | None,
    typer.Option(envvar="PUMP_INSTANCE_NAME", help="this instance's name in /health and the logs (default host:pid)"),
]
LeaderRetryOpt = Annotated[
    float | None,
    typer.Option(envvar="PUMP_LEADER_RETRY_S", min=0.05, help="seconds between a follower's tries to lead (default 3)"),
]
LeaderCheckOpt = Annotated[
    float | None,
    typer.Option(envvar="PUMP_LEADER_CHECK_S", min=0.05, help="seconds between the leader's lock checks (default 2)"),
]


def _emit(text: str, payload: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


@app.command()
@handle_errors
def migrate(
    database_url: DatabaseOpt = None,
    downgrade_to: Annotated[
        str | None,
        typer.Option("--downgrade-to", help="take the schema back to this revision (undo an upgrade; see docs)"),
    ] = None,
) -> None:
    """Create or upgrade the database schema (the only command besides serve that creates a database)."""
    from pump_service.persistence.migrate import migrate_database

    ctx = CliContext.from_options(database_url, None)
    where = masked_url(ctx.settings.database_url)
    if downgrade_to is not None:
        migrate_database(ctx.settings.database_url, to_revision=downgrade_to, down=True)
        print(f"database at schema revision {downgrade_to}: {where}")
        return
    migrate_database(ctx.settings.database_url)
    print(f"database at schema head: {where}")


@app.command()
@handle_errors
def info(database_url: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """Where the data lives: database, data directory, schema revision, device, station, version."""
    ctx = CliContext.from_options(database_url, None)
    report = gather_info(ctx.settings)
    _emit(render_info(report), report.model_dump(mode="json"), as_json)


@app.command()
@handle_errors
def serve(
    database_url: DatabaseOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="seed demo patients and pumps into an empty database")] = False,
    scheduler: Annotated[bool, typer.Option(help="run the reminder/escalation scheduler in this process")] = True,
    instance_name: InstanceOpt = None,
    leader_retry_s: LeaderRetryOpt = None,
    leader_check_s: LeaderCheckOpt = None,
) -> None:
    """Run the HTTP service (migrates first)."""
    import uvicorn

    from pump_service.api.app import create_app
    from pump_service.persistence.db import transaction
    from pump_service.scheduler import RefillScheduler, charge_dispatch_work, notification_dispatch_work
    from pump_service.scheduler.runner import DEFAULT_CHECK_INTERVAL_S, DEFAULT_RETRY_INTERVAL_S
    from pump_service.services.accounts import any_enabled_admin
    from pump_service.services.accounts.demo_accounts import DEMO_STATION, DemoLogin, seed_demo_accounts
    from pump_service.services.demo import seed_demo
    from pump_service.settings import is_loopback

    ctx = CliContext.from_options(database_url, None)
    ctx.settings.serve_host = host  # the session cookie is Secure unless this is loopback
    engine = ctx.engine(create=True)
    print(f"database {masked_url(ctx.settings.database_url)}", flush=True)
    logins: list[DemoLogin] = []
    if demo:
        with acting_as(Actor(user=SYSTEM_USER, station_id=ctx.settings.station_id)), transaction(engine) as session:
            seeded = seed_demo(session, settings=ctx.settings, now=ctx.clock.now())
            logins = seed_demo_accounts(
                session,
                ctx.settings,
                programmer_url=ctx.settings.device_url,
                now=ctx.clock.now(),
                loopback=is_loopback(host),
            )
        print("seeded demo patients and pumps" if seeded else "database already has pumps: demo seed skipped")
    if not is_loopback(host):
        with transaction(engine) as session:
            has_admin = any_enabled_admin(session)
        if not has_admin:
            fail(
                f"refusing to listen on {host}: no enabled admin account exists yet. Create one first "
                "(pump-service users add NAME --role admin), or serve on 127.0.0.1",
                code=2,
            )
    api = create_app(ctx.settings, clock=ctx.clock, engine=engine)
    work = (
        charge_dispatch_work(engine, ctx.settings, ctx.clock),
        notification_dispatch_work(engine, ctx.settings, ctx.clock),
    )
    ticker = None
    if scheduler:
        ticker = RefillScheduler(
            engine,
            ctx.settings,
            ctx.clock,
            extra_work=work,
            instance_id=instance_name,
            retry_interval_s=leader_retry_s or DEFAULT_RETRY_INTERVAL_S,
            check_interval_s=leader_check_s or DEFAULT_CHECK_INTERVAL_S,
        )
        leads = ticker.start()
        api.state.leadership = ticker.election
        role = "leads the scheduler" if leads else "follows: another instance leads the scheduler, this one takes over"
        print(f"instance {ticker.instance_id} {role}", flush=True)
    print(f"pump-service on http://{host}:{port}  (API docs: http://{host}:{port}/docs, pumps: /pumps)", flush=True)
    if logins:
        print(f"sign in at http://{host}:{port}/login on station {DEMO_STATION}; demo logins:")
        hidden = "(password not shown: not a loopback address)"
        for login in logins:
            print(f"  {login.username:<16} {login.role.value:<10} {login.password or hidden}")
    try:
        # No access log: request paths and queries carry patient references (no PHI in logs).
        uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if ticker is not None:
            ticker.shutdown()


@patients_app.command("add")
@handle_errors
def patients_add(
    patient_ref: Annotated[str, typer.Argument(help="the clinic's pseudonymous reference, never a name")],
    body_mass: Annotated[str | None, typer.Option("--body-mass", help="e.g. '70 kg'")] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Register a patient (or update the body mass)."""
    entry = PatientEntry.model_validate({"patient_ref": patient_ref, "body_mass_kg": body_mass})
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        register_patient(session, entry, actor=ctx.actor, now=ctx.clock.now())
    print(f"patient {patient_ref} saved")


@pumps_app.command("add")
@handle_errors
def pumps_add(
    serial: str,
    model: Annotated[str, typer.Option("--model", help="catalogue id, e.g. hai-30, programmable-20")],
    route: Annotated[str, typer.Option("--route", help="intra_arterial, intravenous, intrathecal or epidural")],
    patient: Annotated[str | None, typer.Option("--patient", help="patient reference")] = None,
    rate: Annotated[
        str | None, typer.Option("--rate", help="labelled rate of a constant-flow unit, e.g. '1.1 mL/d'")
    ] = None,
    rx: Annotated[str | None, typer.Option("--rx", help="programmable: prescription as JSON")] = None,
    implanted_at: Annotated[datetime | None, typer.Option("--implanted-at", help="ISO time with offset")] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Register a pump."""
    entry = PumpRegistration.model_validate(
        {
            "serial": serial,
            "model_id": model,
            "route": route,
            "patient_ref": patient,
            "nominal_rate_ml_per_day": rate,
            "prescription": json.loads(rx) if rx else None,
            "implanted_at": implanted_at,
        }
    )
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        register_pump(session, entry, actor=ctx.actor, now=ctx.clock.now())
    print(f"pump {serial} registered")


@pumps_app.command("list")
@handle_errors
def pumps_list(database_url: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """All pumps with estimated reservoir and next due date."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        views = list_pump_views(session, now=ctx.clock.now())
    _emit(pump_table(views, ctx.settings.zone), [v.model_dump(mode="json") for v in views], as_json)


@pumps_app.command("show")
@handle_errors
def pumps_show(serial: str, database_url: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """One pump in detail."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        view = show_pump(session, serial, now=ctx.clock.now())
    _emit(pump_detail(view, ctx.settings.zone), view.model_dump(mode="json"), as_json)


@pumps_app.command("condition")
@handle_errors
def pumps_condition(
    serial: str,
    start: Annotated[datetime, typer.Option("--start", help="ISO time with offset")],
    temperature: Annotated[str, typer.Option("--temperature", help="body temperature, e.g. '39 degC'")] = "37 degC",
    altitude: Annotated[str | None, typer.Option("--altitude", help="e.g. '8000 ft'")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Record a fever or a stay at altitude for a constant-flow pump, from --start on."""
    entry = ConditionEntry.model_validate(
        {"start_at": start, "body_temperature_c": temperature, "altitude_m": altitude, "note": note}
    )
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        record_conditions(session, serial, entry, settings=ctx.settings, actor=ctx.actor, now=ctx.clock.now())
    print(f"conditions recorded for {serial} from {local(entry.start_at, ctx.settings.zone)}")


@refill_app.command("start")
@handle_errors
def refill_start(
    serial: str,
    port: Annotated[str | None, typer.Option("--port", help="programmer port (default $PUMP_DEVICE_URL)")] = None,
    interrogate_pump: Annotated[bool, typer.Option("--interrogate/--no-interrogate")] = True,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a visit: interrogate a programmable pump and show the residual expected now."""
    ctx = CliContext.from_options(database_url, actor)
    engine = ctx.engine()
    try:
        preview = start_visit(
            engine,
            serial,
            settings=ctx.settings,
            clock=ctx.clock,
            actor=ctx.actor,
            device_url=port,
            interrogate_pump=interrogate_pump,
        )
    finally:
        engine.dispose()
    zone = ctx.settings.zone
    expected = "-" if preview.expected_residual_ml is None else f"{preview.expected_residual_ml:.2f} mL"
    days = "-" if preview.days_since_fill is None else f"{preview.days_since_fill:.2f}"
    lines = [
        f"visit for {serial} at {local(preview.at, zone)}" + (" (pump interrogated)" if preview.interrogated else ""),
        f"days since fill   {days}",
        f"expected residual {expected}",
        "appointment       "
        + (local(preview.appointment.starts_at, zone) if preview.appointment is not None else "none booked"),
        *(f"attention         {note}" for note in preview.attention),
    ]
    _emit("\n".join(lines), preview.model_dump(mode="json"), as_json)


@refill_app.command("record")
@handle_errors
def refill_record(
    serial: str,
    returned: Annotated[str | None, typer.Option("--returned", help="volume aspirated, e.g. '16 mL'")] = None,
    fill: Annotated[str | None, typer.Option("--fill", help="volume filled, e.g. '30 mL'")] = None,
    component: Annotated[
        list[str] | None,
        typer.Option("--component", "-c", help="DRUG[:key=value,...], e.g. 'floxuridine:dose=0.12 mg/kg/d,lot=A1'"),
    ] = None,
    performed_at: Annotated[datetime | None, typer.Option("--at", help="ISO time with offset (default now)")] = None,
    body_mass: Annotated[str | None, typer.Option("--body-mass", help="e.g. '70 kg'")] = None,
    key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    override: Annotated[
        list[str] | None, typer.Option("--override", help="hard-stop code a clinician overrides (repeat)")
    ] = None,
    override_by: Annotated[
        str | None,
        typer.Option("--override-by", help="the overriding physician's username (their password is asked)"),
    ] = None,
    override_reason: Annotated[str | None, typer.Option("--override-reason", help="why the refill goes ahead")] = None,
    second_check_by: Annotated[
        str | None,
        typer.Option("--second-check-by", help="spinal fills: the second person's username (their password is asked)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan and its findings; store nothing")] = False,
    from_file: Annotated[Path | None, typer.Option("--file", help="the whole refill as JSON ('-' for stdin)")] = None,
    rx: Annotated[
        str | None, typer.Option("--rx", help="programmable: a new prescription as JSON (a dose change)")
    ] = None,
    port: Annotated[
        str | None, typer.Option("--port", help="programmer port for a programmable pump (default $PUMP_DEVICE_URL)")
    ] = None,
    performer_role: Annotated[
        str | None, typer.Option("--performer-role", help="clinical_staff (default) or physician_qhp")
    ] = None,
    place_of_service: Annotated[str | None, typer.Option("--pos", help="CMS place of service, e.g. 11")] = None,
    payer: Annotated[str | None, typer.Option("--payer", help="payer profile, e.g. medicare")] = None,
    diagnoses: Annotated[list[str] | None, typer.Option("--dx", help="ICD-10-CM code (repeat)")] = None,
    kit_lot: Annotated[str | None, typer.Option("--kit-lot", help="lot of the refill kit used")] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a refill visit (writing a programmable pump through the programmer) and print the figures."""
    ctx = CliContext.from_options(database_url, actor)
    if from_file is not None:
        raw = sys.stdin.read() if str(from_file) == "-" else from_file.read_text()
        try:
            data: dict[str, Any] = json.loads(raw)
        except json.JSONDecodeError as exc:
            fail(f"{from_file}: not JSON ({exc.msg} at line {exc.lineno})")
    else:
        if returned is None or fill is None or not component:
            fail("give --returned, --fill and at least one --component (or --file)")
        billing = {
            "performer_role": performer_role,
            "place_of_service": place_of_service,
            "payer_profile": payer,
            "diagnoses": diagnoses or [],
            "refill_kit_lot": kit_lot,
        }
        data = {
            "returned_volume_ml": returned,
            "fill_volume_ml": fill,
            "components": [parse_component(c) for c in component],
            "body_mass_kg": body_mass,
            "idempotency_key": key,
            "prescription": json.loads(rx) if rx else None,
            "billing": {k: v for k, v in billing.items() if v is not None},
        }
    data.setdefault("performed_at", performed_at or ctx.clock.now())
    entry = RefillEntry.model_validate(data)
    if override and override_by is None:
        fail("--override needs --override-by: the physician who overrides signs with their own password")
    engine = ctx.engine()
    try:
        entry = cosign_refill(
            engine,
            ctx,
            serial,
            entry,
            override_by=override_by if override and not dry_run else None,
            override_codes=override or [],
            override_reason=override_reason,
            second_check_by=None if dry_run else second_check_by,
        )
        if dry_run:
            plan = plan_visit(engine, serial, entry, settings=ctx.settings, clock=ctx.clock, actor=ctx.actor)
            view = plan_view(plan)
            _emit(plan_report(view, ctx.settings.zone), view.model_dump(mode="json"), as_json)
            return
        result = complete_visit(
            engine, serial, entry, settings=ctx.settings, clock=ctx.clock, actor=ctx.actor, device_url=port
        )
    finally:
        engine.dispose()
    _emit(refill_report(result, ctx.settings.zone), result.model_dump(mode="json"), as_json)


@app.command()
@handle_errors
def due(
    within_days: Annotated[float, typer.Option("--within-days", min=0, max=3660)] = 14.0,
    overdue: Annotated[bool, typer.Option("--overdue", help="only pumps already past their due date")] = False,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pumps due for a refill in the coming days (overdue first)."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        items = list_due(session, now=ctx.clock.now(), within_days=0.0 if overdue else within_days)
    if overdue:
        items = [i for i in items if i.overdue]
    _emit(due_table(items, ctx.settings.zone), [i.model_dump(mode="json") for i in items], as_json)


pump_commands.register(pumps_app)
schedule_commands.register(app)
station_commands.register(app)
charges_commands.register(app)
visit_commands.register(app)
account_commands.register(app)
audit_commands.register(app)
bench_commands.register(app)
backup_commands.register(app)


def _configure_logging() -> None:
    """``PUMP_LOG_LEVEL=info`` makes each command log (on stderr) which database it opens."""
    wanted = os.environ.get("PUMP_LOG_LEVEL", "warning").upper()
    level = logging.getLevelNamesMapping().get(wanted, logging.WARNING)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Console-script entry point."""
    _configure_logging()
    app()
