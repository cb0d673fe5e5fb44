"""``pump-service schedule | appointments | clinic | notifications | tick``: the clinic's calendar."""

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from pump_service.cli.clinic_commands import add_commands
from pump_service.cli.context import CliContext, handle_errors
from pump_service.cli.output import local
from pump_service.scheduler.runner import RefillScheduler
from pump_service.services.scheduling.booking import cancel_appointment, rebook_closed_day
from pump_service.services.scheduling.clinics import add_holiday, calendar_of, default_clinic, get_clinic
from pump_service.services.scheduling.delivery import NotificationDeliveryState, list_deliveries
from pump_service.services.scheduling.notifications import acknowledge, list_notifications
from pump_service.services.scheduling.views import (
    AppointmentView,
    appointment_view,
    appointment_views,
    notification_view,
    schedule_ical,
)

__all__ = ["register"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]
ClinicOpt = Annotated[str | None, typer.Option("--clinic", help="clinic id (default: the default clinic)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]

appointments_app = typer.Typer(no_args_is_help=True, help="Cancel appointments or record no-shows.")
clinic_app = typer.Typer(no_args_is_help=True, help="Clinics: their calendar, holidays, history and worklist.")
notifications_app = typer.Typer(no_args_is_help=True, help="Reminders and escalations.")


def _table(views: list[AppointmentView], ctx: CliContext) -> str:
    if not views:
        return "nothing booked in that window"
    lines = []
    current: date | None = None
    for v in views:
        if v.local_day != current:
            current = v.local_day
            lines.append(f"{v.local_day.isoformat()} {v.local_day.strftime('%A')}")
        flag = "" if v.on_time else "  LATE (no slot before the due date)"
        lines.append(
            f"  {local(v.starts_at, ctx.settings.zone)[11:]:<12} {v.pump_serial:<12} {v.status:<10} "
            f"due {local(v.target_at, ctx.settings.zone)} ({v.due_reason}){flag}"
        )
    return "\n".join(lines)


def schedule(
    days: Annotated[int, typer.Option("--days", min=1, max=366)] = 14,
    clinic: ClinicOpt = None,
    ical: Annotated[Path | None, typer.Option("--ical", help="write the iCalendar feed to this file")] = None,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The clinic's appointments for the coming days (default 14)."""
    ctx = CliContext.from_options(database_url, None)
    now = ctx.clock.now()
    with ctx.session() as session:
        row = get_clinic(session, clinic) if clinic else default_clinic(session, ctx.settings, now=now)
        views = appointment_views(session, row, calendar_of(session, row).local_day(now), days)
        feed = schedule_ical(session, row, now=now, days=days) if ical else None
    if ical is not None and feed is not None:
        ical.write_bytes(feed)
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
    else:
        print(_table(views, ctx))


@appointments_app.command("cancel")
@handle_errors
def appointments_cancel(
    appointment_id: int,
    reason: Annotated[str, typer.Option("--reason", help="why (no patient details)")],
    no_show: Annotated[bool, typer.Option("--no-show", help="the patient did not come (escalates)")] = False,
    patient_request: Annotated[
        bool, typer.Option("--patient-request", help="the patient asked: book another day")
    ] = False,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Cancel an appointment or record a no-show (once it has started); the pump is booked again."""
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        new = cancel_appointment(
            session,
            appointment_id,
            no_show=no_show,
            reason=reason,
            actor=ctx.actor,
            now=ctx.clock.now(),
            patient_request=patient_request,
        )
        view = appointment_view(session, new)
    late = "" if view.on_time else " (LATE: escalated)"
    when = local(view.starts_at, ctx.settings.zone)
    print(f"rebooked {view.pump_serial} as appointment {view.appointment_id} at {when}{late}")


@clinic_app.command("holiday")
@handle_errors
def clinic_holiday(
    day: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
    name: Annotated[str, typer.Argument(help="e.g. 'Thanksgiving'")],
    clinic: ClinicOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Close the clinic on a day and move what was booked then."""
    closed = date.fromisoformat(day)
    ctx = CliContext.from_options(database_url, actor)
    now = ctx.clock.now()
    with ctx.session() as session:
        row = get_clinic(session, clinic) if clinic else default_clinic(session, ctx.settings, now=now)
        add_holiday(session, row, closed, name, actor=ctx.actor, now=now)
        moved = [
            appointment_view(session, m) for m in rebook_closed_day(session, row, closed, actor=ctx.actor, now=now)
        ]
    print(f"{closed.isoformat()} closed ({name}); {len(moved)} appointment(s) moved")
    for view in moved:
        print(f"  {view.pump_serial} -> {local(view.starts_at, ctx.settings.zone)}")


@notifications_app.command("list")
@handle_errors
def notifications_list(
    show_all: Annotated[bool, typer.Option("--all", help="include acknowledged and expired")] = False,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open reminders and escalations, newest first."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        views = [notification_view(session, n) for n in list_notifications(session, open_only=not show_all)]
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return
    for v in views:
        print(f"{v.notification_id:>6} {v.level:<10} {v.kind:<18} {v.status:<12} {v.message}")
    if not views:
        print("no notifications")


@notifications_app.command("ack")
@handle_errors
def notifications_ack(notification_id: int, database_url: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Mark a reminder or escalation as handled."""
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        acknowledge(session, notification_id, actor=ctx.actor, now=ctx.clock.now())
    print(f"notification {notification_id} acknowledged")


@notifications_app.command("deliveries")
@handle_errors
def notifications_deliveries(
    notification_id: Annotated[int | None, typer.Argument(help="one notification (default: all)")] = None,
    state: Annotated[
        NotificationDeliveryState | None, typer.Option("--state", help="only deliveries in this state")
    ] = None,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The delivery log: each notification once per channel (e-mail, webhook), attempts and errors."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        views = list_deliveries(session, notification_id=notification_id, state=state)
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return
    for v in views:
        when = local(v.delivered_at or v.next_attempt_at or v.created_at, ctx.settings.zone)
        error = f"  ({v.last_error})" if v.last_error else ""
        print(f"{v.notification_id:>6} {v.channel:<8} {v.state:<10} attempts {v.attempts:<3} {when}{error}")
    if not views:
        print("no deliveries")


def tick(database_url: DatabaseOpt = None) -> None:
    """Run the scheduler's tick once now (what `serve` does every minute), the same two phases.

    Found in a read snapshot, recorded in a short write: a station recording refills meanwhile
    does not wait for this command.
    """
    ctx = CliContext.from_options(database_url, None)
    engine = ctx.engine()
    try:
        report = RefillScheduler(engine, ctx.settings, ctx.clock).tick()
    finally:
        engine.dispose()
    print(", ".join(f"{kind}: {count}" for kind, count in sorted(report.created.items())) or "nothing due")


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(schedule))
    app.command()(handle_errors(tick))
    app.add_typer(appointments_app, name="appointments")
    add_commands(clinic_app)
    app.add_typer(clinic_app, name="clinic")
    app.add_typer(notifications_app, name="notifications")
