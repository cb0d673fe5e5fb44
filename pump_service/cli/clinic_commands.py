"""``pump-service clinic add | show | list | set | history | holidays | unholiday | worklist | assign``."""

import json
from datetime import date, timedelta
from typing import Annotated, Any

import typer

from pump_service.cli.context import CliContext, handle_errors
from pump_service.cli.output import local
from pump_service.services.scheduling.clinic_admin import (
    assign_pump,
    change_clinic,
    clinic_history,
    clinic_view,
    create_clinic,
    list_clinics,
)
from pump_service.services.scheduling.clinics import default_clinic, get_clinic, list_holidays, remove_holiday
from pump_service.services.scheduling.contracts import ClinicChanges, ClinicEntry, ClinicView, HolidayView
from pump_service.services.scheduling.views import appointment_view
from pump_service.services.scheduling.worklist import worklist

__all__ = ["add_commands"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]
ClinicOpt = Annotated[str | None, typer.Option("--clinic", help="clinic id (default: the default clinic)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
NameOpt = Annotated[str | None, typer.Option("--name")]
ZoneOpt = Annotated[str | None, typer.Option("--tz", help="IANA time zone, e.g. America/New_York")]
DaysOpt = Annotated[str | None, typer.Option("--working-days", help="weekday numbers, 0 = Monday: '0,1,2,3,4'")]
OpensOpt = Annotated[str | None, typer.Option("--opens", help="local HH:MM")]
ClosesOpt = Annotated[str | None, typer.Option("--closes", help="local HH:MM")]
SlotOpt = Annotated[int | None, typer.Option("--slot-minutes")]
CapacityOpt = Annotated[int | None, typer.Option("--capacity", help="appointments per day")]
RemindOpt = Annotated[str | None, typer.Option("--reminder-days", help="days before a visit: '7,1'")]
JurisdictionOpt = Annotated[str | None, typer.Option("--jurisdiction", help="Medicare A/B MAC jurisdiction, e.g. JM")]


def _numbers(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{option} takes comma-separated whole numbers, got {text!r}") from None


def _fields(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _describe(view: ClinicView) -> str:
    days = ",".join(str(d) for d in view.working_days)
    lines = [
        f"{view.clinic_id}: {view.name} ({view.timezone}, jurisdiction {view.jurisdiction or '-'})",
        f"  working days {days} (0 = Monday), {view.opens_at}-{view.closes_at}, "
        f"{view.slot_minutes} min slots, {view.capacity_per_day} a day ({view.slots_per_day} slots)",
        f"  reminders {','.join(str(d) for d in view.reminder_days) or '-'} day(s) before",
        f"  changed {view.updated_at.isoformat()} by {view.updated_by}",
    ]
    lines += [f"  holiday {h.day.isoformat()} {h.name}" for h in view.holidays]
    return "\n".join(lines)


def _print(view: ClinicView, as_json: bool) -> None:
    print(view.model_dump_json(indent=2) if as_json else _describe(view))


def clinic_add(
    clinic_id: Annotated[str, typer.Argument(help="short id: lower-case letters, digits, '-'")],
    name: Annotated[str, typer.Option("--name")],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone, e.g. America/New_York")],
    working_days: DaysOpt = None,
    opens: OpensOpt = None,
    closes: ClosesOpt = None,
    slot_minutes: SlotOpt = None,
    capacity: CapacityOpt = None,
    reminder_days: RemindOpt = None,
    jurisdiction: JurisdictionOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a clinic."""
    values = _fields(
        clinic_id=clinic_id,
        name=name,
        timezone=tz,
        working_days=_numbers(working_days, "--working-days"),
        opens_at=opens,
        closes_at=closes,
        slot_minutes=slot_minutes,
        capacity_per_day=capacity,
        reminder_days=_numbers(reminder_days, "--reminder-days"),
        jurisdiction=jurisdiction,
    )
    entry = ClinicEntry.model_validate(values)
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        view = clinic_view(session, create_clinic(session, entry, actor=ctx.actor, now=ctx.clock.now()))
    _print(view, as_json)


def clinic_show(
    clinic: Annotated[str | None, typer.Argument(help="clinic id (default: the default clinic)")] = None,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A clinic's settings and holidays."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        row = get_clinic(session, clinic) if clinic else default_clinic(session, ctx.settings, now=ctx.clock.now())
        view = clinic_view(session, row)
    _print(view, as_json)


def clinic_list(database_url: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """Every clinic."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        default_clinic(session, ctx.settings, now=ctx.clock.now())
        views = [clinic_view(session, c) for c in list_clinics(session)]
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return
    for v in views:
        print(f"{v.clinic_id:<16} {v.name:<30} {v.timezone:<20} {v.jurisdiction or '-'}")


def clinic_set(
    clinic: Annotated[str, typer.Argument(help="clinic id")],
    name: NameOpt = None,
    tz: ZoneOpt = None,
    working_days: DaysOpt = None,
    opens: OpensOpt = None,
    closes: ClosesOpt = None,
    slot_minutes: SlotOpt = None,
    capacity: CapacityOpt = None,
    reminder_days: RemindOpt = None,
    jurisdiction: JurisdictionOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a clinic; bookings that no longer fit new hours or capacity are moved."""
    values = _fields(
        name=name,
        timezone=tz,
        working_days=_numbers(working_days, "--working-days"),
        opens_at=opens,
        closes_at=closes,
        slot_minutes=slot_minutes,
        capacity_per_day=capacity,
        reminder_days=_numbers(reminder_days, "--reminder-days"),
        jurisdiction=jurisdiction,
    )
    changes = ClinicChanges.model_validate(values)
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        row, moved = change_clinic(session, clinic, changes, actor=ctx.actor, now=ctx.clock.now())
        view = clinic_view(session, row)
        moved_views = [appointment_view(session, m) for m in moved]
    _print(view, as_json)
    if not as_json:
        print(f"{len(moved_views)} appointment(s) moved")
        for m in moved_views:
            late = "" if m.on_time else " (LATE: escalated)"
            print(f"  {m.pump_serial} -> {local(m.starts_at, ctx.settings.zone)}{late}")


def clinic_history_command(
    clinic: Annotated[str, typer.Argument(help="clinic id")],
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every change of a clinic: who, from which station, when, before and after."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        changes = clinic_history(session, get_clinic(session, clinic))
    if as_json:
        print(json.dumps([c.model_dump(mode="json") for c in changes], indent=2))
        return
    for c in changes:
        print(
            f"{local(c.changed_at, ctx.settings.zone)} {c.changed_by}@{c.station_id} {c.kind}: {c.before} -> {c.after}"
        )


def clinic_holidays(clinic: ClinicOpt = None, database_url: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """The clinic's holidays in day order."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        row = get_clinic(session, clinic) if clinic else default_clinic(session, ctx.settings, now=ctx.clock.now())
        views = [HolidayView.model_validate(h) for h in list_holidays(session, row)]
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return
    for v in views:
        print(f"{v.day.isoformat()} {v.day.strftime('%A'):<10} {v.name}")
    if not views:
        print("no holidays")


def clinic_unholiday(
    day: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
    clinic: ClinicOpt = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Open the clinic again on a day that was a holiday."""
    opened = date.fromisoformat(day)
    ctx = CliContext.from_options(database_url, actor)
    now = ctx.clock.now()
    with ctx.session() as session:
        row = get_clinic(session, clinic) if clinic else default_clinic(session, ctx.settings, now=now)
        remove_holiday(session, row, opened, actor=ctx.actor, now=now)
    print(f"{opened.isoformat()} open again")


def clinic_worklist(
    clinic: ClinicOpt = None,
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="how far back to look")] = 30,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Overdue visits and no-shows not refilled since, oldest first."""
    ctx = CliContext.from_options(database_url, None)
    now = ctx.clock.now()
    grace = timedelta(hours=ctx.settings.overdue_grace_hours)
    with ctx.session() as session:
        row = get_clinic(session, clinic) if clinic else default_clinic(session, ctx.settings, now=now)
        items = worklist(session, row, now=now, grace=grace, days=days)
    if as_json:
        print(json.dumps([i.model_dump(mode="json") for i in items], indent=2))
        return
    zone = ctx.settings.zone
    for i in items:
        print(
            f"{i.kind:<8} {i.pump_serial:<12} appointment {i.appointment_id} {local(i.starts_at, zone)} "
            f"rebooked {local(i.rebooked_at, zone)}"
        )
    if not items:
        print("nothing overdue")


def clinic_assign(
    serial: Annotated[str, typer.Argument(help="pump serial")],
    clinic: Annotated[str, typer.Option("--clinic", help="clinic id")],
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """The pump is looked after by a clinic from now on; its booking moves there."""
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        booked = assign_pump(session, serial, get_clinic(session, clinic), actor=ctx.actor, now=ctx.clock.now())
        view = appointment_view(session, booked) if booked else None
    where = f"; booked {local(view.starts_at, ctx.settings.zone)}" if view else ""
    print(f"pump {serial} now at clinic {clinic}{where}")


def add_commands(clinic_app: typer.Typer) -> None:
    """Add these commands to the ``clinic`` group (``clinic holiday`` lives in schedule_commands)."""
    clinic_app.command("add")(handle_errors(clinic_add))
    clinic_app.command("show")(handle_errors(clinic_show))
    clinic_app.command("list")(handle_errors(clinic_list))
    clinic_app.command("set")(handle_errors(clinic_set))
    clinic_app.command("history")(handle_errors(clinic_history_command))
    clinic_app.command("holidays")(handle_errors(clinic_holidays))
    clinic_app.command("unholiday")(handle_errors(clinic_unholiday))
    clinic_app.command("worklist")(handle_errors(clinic_worklist))
    clinic_app.command("assign")(handle_errors(clinic_assign))
