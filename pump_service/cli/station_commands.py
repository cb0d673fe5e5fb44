"""``pump-service station interrogate`` and ``pump-service sim programmer``: the programmer link."""

import importlib
import signal
import threading
from typing import Annotated, Any

import typer

from pump_service.cli.context import CliContext, handle_errors
from pump_service.cli.output import local
from pump_service.services.visits.interrogation import interrogate

__all__ = ["register"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="your user id (default $PUMP_ACTOR or the login name)")]

station_app = typer.Typer(no_args_is_help=True, help="Talk to pumps through the handheld programmer.")
sim_app = typer.Typer(no_args_is_help=True, help="Simulated devices for benches and demos.")


@station_app.command("interrogate")
@handle_errors
def station_interrogate(
    port: Annotated[
        str | None,
        typer.Option("--port", help="programmer port: /dev/ttyUSB0, a pty path, socket://host:port, sim://..."),
    ] = None,
    pump: Annotated[str | None, typer.Option("--pump", help="pump serial (default: the pump in range)")] = None,
    database_url: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Link, read status and the new part of the pump's log, store it, replan the due date."""
    ctx = CliContext.from_options(database_url, actor)
    engine = ctx.engine()
    try:
        result = interrogate(
            engine,
            port or ctx.settings.device_url,
            settings=ctx.settings,
            clock=ctx.clock,
            actor=ctx.actor,
            pump_serial=pump,
        )
    finally:
        engine.dispose()
    zone = ctx.settings.zone
    print(f"pump {result.pump_serial}: reservoir {result.reservoir_ml:.2f} mL, battery {result.battery_state}")
    print(f"alarms: {', '.join(result.alarms) or 'none'}; pump clock drift {result.clock_drift_s:+.1f} s")
    gap = f" ({result.skipped_log_entries} lost before they could be read)" if result.skipped_log_entries else ""
    print(f"log: {result.new_log_entries} new entries stored, next index {result.log_next_index}{gap}")
    print(f"next due {local(result.next_due_at, zone)}")


@sim_app.command("programmer")
@handle_errors
def sim_programmer(
    pty: Annotated[bool, typer.Option("--pty", help="serve on a new pseudo-terminal (prints its path)")] = False,
    tcp: Annotated[int | None, typer.Option("--tcp", help="serve on this TCP port (0: any free port)")] = None,
    url: Annotated[
        str, typer.Option("--pump", help="the simulated pump, as a sim:// URL (model, serial, volume, rate, seed...)")
    ] = "sim://programmable-20?serial=SIM-0001",
) -> None:
    """Serve a simulated programmer with one pump until interrupted."""
    if pty == (tcp is not None):
        raise typer.BadParameter("give exactly one of --pty or --tcp")
    serve: Any = importlib.import_module("simulators.serve")  # the service never imports simulators statically
    transport: Any = importlib.import_module("simulators.transport")
    from schemas.clock import SystemClock

    programmer = transport.programmer_from_url(url, SystemClock())
    server = serve.serve_pty(programmer) if pty else serve.serve_tcp(programmer, port=tcp or 0)
    print(server.address, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def register(app: typer.Typer) -> None:
    app.add_typer(station_app, name="station")
    app.add_typer(sim_app, name="sim")
