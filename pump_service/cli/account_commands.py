"""``pump-service users ...`` and ``pump-service stations ...``: accounts, API tokens, registered stations.

Run on the station itself by whoever administers it (there is no network sign-in for these).
A password is read from a prompt (not echoed) or, for scripts, from standard input.
"""

import sys
from datetime import timedelta
from typing import Annotated

import typer

from pump_service.cli.context import CliContext, fail, handle_errors
from pump_service.domain.access import Role
from pump_service.services.accounts import (
    add_user,
    disable_station,
    disable_user,
    issue_token,
    list_stations,
    list_users,
    register_station,
)
from pump_service.services.scheduling.clinics import default_clinic

__all__ = ["register"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]

users_app = typer.Typer(no_args_is_help=True, help="User accounts and API tokens (admins).")
stations_app = typer.Typer(no_args_is_help=True, help="Registered refill stations and their programmer ports (admins).")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        fail("the passwords differ")
    return str(first)


@users_app.command("add")
@handle_errors
def users_add(
    username: str,
    role: Annotated[Role, typer.Option("--role", help="nurse, physician, billing, manager, admin or bench")],
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="shown on pages (default: the username)")
    ] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Add an account (the password is asked for, or read from stdin)."""
    ctx = CliContext.from_options(database_url, actor)
    password = _password(password_stdin)
    with ctx.session() as session:
        user = add_user(
            session,
            username,
            role=role,
            password=password,
            display_name=display_name,
            now=ctx.clock.now(),
            created_by=ctx.actor.user,
            min_password_length=ctx.settings.password_min_length,
        )
        name, shown_role = user.username, user.role
    print(f"user {name} added ({shown_role})")


@users_app.command("list")
@handle_errors
def users_list(database_url: DatabaseOpt = None) -> None:
    """Every account: username, role, and whether it is disabled or locked."""
    ctx = CliContext.from_options(database_url, None)
    now = ctx.clock.now()
    with ctx.session() as session:
        rows = [
            (
                u.username,
                u.role.value,
                "disabled" if u.disabled_at else "locked" if u.locked_until and u.locked_until > now else "enabled",
                u.display_name,
            )
            for u in list_users(session)
        ]
    for name, role, state, shown in rows:
        print(f"{name:<24} {role:<10} {state:<9} {shown}")


@users_app.command("disable")
@handle_errors
def users_disable(username: str, database_url: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Disable an account: its sessions and tokens stop working at once."""
    ctx = CliContext.from_options(database_url, actor)
    by = ctx.actor.user  # asked before the write: the audit trail attributes it to whoever runs this
    with ctx.session() as session:
        name = disable_user(session, username, now=ctx.clock.now()).username
    print(f"user {name} disabled by {by}; its sessions and tokens are ended")


@users_app.command("token")
@handle_errors
def users_token(
    username: str,
    station: Annotated[str, typer.Option("--station", help="registered station the token acts from")],
    label: Annotated[str, typer.Option("--label", help="what the token is for")] = "",
    expires_days: Annotated[int | None, typer.Option("--expires-days", min=1, max=3650)] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Issue an API token for the account, bound to a station. It is printed once and never stored."""
    ctx = CliContext.from_options(database_url, actor)
    by = ctx.actor.user  # asked before the write: the audit trail attributes the token to its issuer
    now = ctx.clock.now()
    expires = now + timedelta(days=expires_days) if expires_days else None
    with ctx.session() as session:
        token = issue_token(session, username, station_id=station, now=now, label=label, expires_at=expires).token
    print(token)
    print(
        f"issued by {by}; store it now: it is not shown again (send it as 'Authorization: Bearer <token>')",
        file=sys.stderr,
    )


@stations_app.command("add")
@handle_errors
def stations_add(
    station_id: str,
    clinic: Annotated[str, typer.Option("--clinic", help="clinic id the station serves")],
    port: Annotated[str, typer.Option("--port", help="programmer port: /dev/ttyUSB0, socket://host:port, sim://...")],
    test_bench: Annotated[bool, typer.Option("--test-bench", help="a test bench (sim:// ports allowed)")] = False,
    label: Annotated[str, typer.Option("--label")] = "",
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Register a refill station and the programmer port the server opens for it."""
    ctx = CliContext.from_options(database_url, actor)
    with ctx.session() as session:
        if clinic == ctx.settings.clinic_id:
            default_clinic(session, ctx.settings, now=ctx.clock.now(), actor=ctx.actor)  # created on first use
        record = register_station(
            session,
            station_id,
            clinic_id=clinic,
            programmer_url=port,
            is_test_bench=test_bench,
            label=label,
            now=ctx.clock.now(),
            created_by=ctx.actor.user,
        )
    print(
        f"station {record.id} registered in clinic {record.clinic_id}{' (test bench)' if record.is_test_bench else ''}"
    )


@stations_app.command("list")
@handle_errors
def stations_list(database_url: DatabaseOpt = None) -> None:
    """Every registered station: clinic, programmer port, test bench, enabled."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        stations = list_stations(session)
    for s in stations:
        flags = ",".join(f for f, on in (("test-bench", s.is_test_bench), ("disabled", s.disabled)) if on) or "-"
        print(f"{s.id:<20} {s.clinic_id:<12} {s.programmer_url:<40} {flags:<20} {s.label}")


@stations_app.command("disable")
@handle_errors
def stations_disable(station_id: str, database_url: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Disable a station: sessions and tokens bound to it stop working."""
    ctx = CliContext.from_options(database_url, actor)
    by = ctx.actor.user  # asked before the write: the audit trail attributes it to whoever runs this
    with ctx.session() as session:
        disable_station(session, station_id, now=ctx.clock.now())
    print(f"station {station_id} disabled by {by}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(stations_app, name="stations")
