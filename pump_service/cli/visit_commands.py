"""``pump-service visit analyse|reprogram|flush|abandon``: the visits that are not refills."""

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from pump_service.cli.context import CliContext, fail, handle_errors
from pump_service.cli.cosign import signed_in_actor
from pump_service.cli.output import local
from pump_service.services.visits.contracts import (
    AbandonEntry,
    AnalysisEntry,
    FlushEntry,
    ReprogrammingEntry,
    VisitResult,
)
from pump_service.services.visits.other_kinds import abandon_visit, record_analysis, record_flush, record_reprogramming

__all__ = ["register"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
AtOpt = Annotated[datetime | None, typer.Option("--at", help="ISO time with offset (default now)")]
KeyOpt = Annotated[str | None, typer.Option("--idempotency-key")]
PortOpt = Annotated[str | None, typer.Option("--port", help="programmer port (default $PUMP_DEVICE_URL)")]
PerformerOpt = Annotated[str | None, typer.Option("--performer-role", help="clinical_staff (default) or physician_qhp")]
PayerOpt = Annotated[str | None, typer.Option("--payer", help="payer profile, e.g. medicare")]
DxOpt = Annotated[list[str] | None, typer.Option("--dx", help="ICD-10-CM code (repeat)")]

visit_app = typer.Typer(no_args_is_help=True, help="Visits that are not refills: analysis, reprogramming, flush.")


def _billing(performer_role: str | None, payer: str | None, diagnoses: list[str] | None) -> dict[str, Any]:
    billing = {"performer_role": performer_role, "payer_profile": payer, "diagnoses": diagnoses or []}
    return {k: v for k, v in billing.items() if v is not None}


def visit_report(r: VisitResult, zone: ZoneInfo) -> str:
    """The visit as the nurse reads it: kind, state, what the pump says, findings and charges."""
    lines = [
        f"{r.kind.value} visit {r.visit_key} of {r.pump_serial} at {local(r.performed_at, zone)}: {r.state.value}"
        + (" (already recorded; nothing changed)" if r.replayed else "")
    ]
    if r.abandon_reason is not None:
        lines.append(f"reason            {r.abandon_reason}")
    if r.prescription is not None:
        lines.append(f"prescription      {r.prescription.mean_rate_ml_per_day():.3f} mL/d written")
    if r.reservoir_ml is not None:
        lines.append(f"reservoir         {r.reservoir_ml:.2f} mL")
    for agent in r.injected:
        units = f" ({agent.amount_usp_u:g} USP units)" if agent.amount_usp_u is not None else ""
        lines.append(f"injected          {agent.drug_id} {agent.volume_ml:g} mL{units}")
    if r.next_due_at is not None:
        lines.append(f"next due          {local(r.next_due_at, zone)}")
    lines.extend(f"{f.tier:<17} {f.code.value}: {f.message}" for f in r.findings)
    charges = ", ".join(f"{c.code} ({c.status})" for c in r.charges) or "none"
    lines.append(f"charges           {charges}")
    return "\n".join(lines)


def _emit(result: VisitResult, ctx: CliContext, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        print(visit_report(result, ctx.settings.zone))


@visit_app.command("analyse")
@handle_errors
def visit_analyse(
    serial: str,
    performed_at: AtOpt = None,
    key: KeyOpt = None,
    port: PortOpt = None,
    performer_role: PerformerOpt = None,
    payer: PayerOpt = None,
    diagnoses: DxOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse (interrogate) a programmable pump only: store its status and log, replan, bill it once."""
    ctx = CliContext.from_options(database_url, actor)
    entry = AnalysisEntry.model_validate(
        {
            "performed_at": performed_at or ctx.clock.now(),
            "idempotency_key": key,
            "billing": _billing(performer_role, payer, diagnoses),
        }
    )
    engine = ctx.engine()
    try:
        result = record_analysis(
            engine, serial, entry, settings=ctx.settings, clock=ctx.clock, actor=ctx.actor, device_url=port
        )
    finally:
        engine.dispose()
    _emit(result, ctx, as_json)


@visit_app.command("reprogram")
@handle_errors
def visit_reprogram(
    serial: str,
    rx: Annotated[str, typer.Option("--rx", help="the new prescription as JSON")],
    performed_at: AtOpt = None,
    body_mass: Annotated[str | None, typer.Option("--body-mass", help="e.g. '70 kg'")] = None,
    key: KeyOpt = None,
    override: Annotated[
        list[str] | None, typer.Option("--override", help="hard-stop code a clinician overrides (repeat)")
    ] = None,
    override_by: Annotated[
        str | None,
        typer.Option("--override-by", help="the physician who reprograms and overrides (their password is asked)"),
    ] = None,
    override_reason: Annotated[str | None, typer.Option("--override-reason", help="why it goes ahead")] = None,
    port: PortOpt = None,
    performer_role: PerformerOpt = None,
    payer: PayerOpt = None,
    diagnoses: DxOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a new prescription to a programmable pump exactly once (no refill), read it back, replan, bill."""
    ctx = CliContext.from_options(database_url, actor)
    entry = ReprogrammingEntry.model_validate(
        {
            "performed_at": performed_at or ctx.clock.now(),
            "prescription": json.loads(rx),
            "body_mass_kg": body_mass,
            "idempotency_key": key,
            "override": {"reason": override_reason, "codes": override} if override else None,
            "billing": _billing(performer_role, payer, diagnoses),
        }
    )
    if override and override_by is None:
        fail("--override needs --override-by: the physician signs in with their own password")
    engine = ctx.engine()
    try:
        acting = signed_in_actor(engine, ctx, override_by) if override_by is not None else ctx.actor
        result = record_reprogramming(
            engine, serial, entry, settings=ctx.settings, clock=ctx.clock, actor=acting, device_url=port
        )
    finally:
        engine.dispose()
    _emit(result, ctx, as_json)


@visit_app.command("flush")
@handle_errors
def visit_flush(
    serial: str,
    injected: Annotated[
        list[str],
        typer.Option(
            "--injected",
            "-i",
            help="DRUG:VOLUME[:STRENGTH], e.g. 'heparin:5 mL:100 U/mL' or 'saline:10 mL' (repeat)",
        ),
    ],
    site: Annotated[str, typer.Option("--site", help="catheter_access_port or venous_port")] = "catheter_access_port",
    performed_at: AtOpt = None,
    key: KeyOpt = None,
    lot: Annotated[str | None, typer.Option("--lot", help="lot of the flush agent")] = None,
    performer_role: PerformerOpt = None,
    payer: PayerOpt = None,
    diagnoses: DxOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a port or catheter flush only (nothing is written to the pump) and bill it once."""
    ctx = CliContext.from_options(database_url, actor)
    agents = []
    for text in injected:
        drug, _, rest = text.partition(":")
        volume, _, strength = rest.partition(":")
        agents.append(
            {
                "drug_id": drug.strip(),
                "volume_ml": volume.strip(),
                "conc_usp_u_per_ml": strength.strip() or None,
                "lot": lot,
            }
        )
    entry = FlushEntry.model_validate(
        {
            "performed_at": performed_at or ctx.clock.now(),
            "site": site,
            "injected": agents,
            "idempotency_key": key,
            "billing": _billing(performer_role, payer, diagnoses),
        }
    )
    with ctx.session() as session:
        result = record_flush(session, serial, entry, settings=ctx.settings, actor=ctx.actor, now=ctx.clock.now())
    _emit(result, ctx, as_json)


@visit_app.command("abandon")
@handle_errors
def visit_abandon(
    visit_key: Annotated[str, typer.Argument(help="the visit's idempotency key")],
    serial: Annotated[str, typer.Option("--pump", help="the pump's serial")],
    reason: Annotated[str, typer.Option("--reason", help="why the visit was given up")],
    kind: Annotated[str, typer.Option("--kind", help="refill, analysis, reprogramming or flush")] = "refill",
    performed_at: AtOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a visit that was started and given up, with its reason: nothing is billed."""
    ctx = CliContext.from_options(database_url, actor)
    entry = AbandonEntry.model_validate(
        {"pump_serial": serial, "kind": kind, "performed_at": performed_at or ctx.clock.now(), "reason": reason}
    )
    with ctx.session() as session:
        result = abandon_visit(session, visit_key, entry, settings=ctx.settings, actor=ctx.actor, now=ctx.clock.now())
    _emit(result, ctx, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(visit_app, name="visit")
