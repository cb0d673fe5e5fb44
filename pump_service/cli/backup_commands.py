"""``pump-service backup DEST`` and ``pump-service restore SRC``: SQLite's online backup, or pg_dump/pg_restore."""

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from pump_service.cli.context import CliContext, fail, handle_errors
from pump_service.locations import masked_url, sqlite_file
from pump_service.persistence.backup import CopyReport, backup_sqlite, restore_sqlite
from pump_service.persistence.backup_postgres import dump_command, pg_dump, pg_restore, restore_command, row_counts
from pump_service.persistence.db import make_engine

__all__ = ["register"]

DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL (default: pump.db in $PUMP_HOME)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
PrintOpt = Annotated[
    bool, typer.Option("--print", help="PostgreSQL: print the pg_dump/pg_restore command instead of running it")
]


def _render(title: str, report: CopyReport) -> str:
    lines = [
        title,
        f"  file               {report.path} ({report.size_bytes} bytes)",
        f"  integrity          {report.integrity}",
        f"  schema revision    {report.revision}",
        *(f"  {name:<18} {count} rows" for name, count in sorted(report.row_counts.items()) if count),
    ]
    if report.saved_previous:
        lines.append(f"  the database it replaced is saved at {report.saved_previous}")
    lines += [f"  note: {note}" for note in report.notes]
    return "\n".join(lines)


def _emit(title: str, report: CopyReport, as_json: bool) -> None:
    print(json.dumps(asdict(report), indent=2) if as_json else _render(title, report))


def _is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _sqlite_path(ctx: CliContext) -> Path:
    path = sqlite_file(ctx.settings.database_url)
    if path is None:
        fail(f"cannot back up {masked_url(ctx.settings.database_url)}: only a SQLite file or PostgreSQL")
    return path


def backup(
    destination: Annotated[Path, typer.Argument(help="file to write the backup to")],
    force: Annotated[bool, typer.Option("--force", help="overwrite DEST if it exists")] = False,
    print_only: PrintOpt = False,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Back up the database while the server runs: a consistent, verified copy."""
    ctx = CliContext.from_options(database_url, None)
    url = ctx.settings.database_url
    if _is_postgres(url):
        if print_only:
            print(dump_command(url, destination).shown())
            return
        revision = pg_dump(url, destination, force=force)
        size = destination.stat().st_size
        payload = {"path": str(destination), "revision": revision, "size_bytes": size, "format": "pg_dump custom"}
        print(
            json.dumps(payload, indent=2)
            if as_json
            else f"pg_dump of {masked_url(url)} written to {destination} "
            f"({size} bytes, schema revision {revision}); restore with pump-service restore {destination}"
        )
        return
    report = backup_sqlite(_sqlite_path(ctx), destination, force=force)
    _emit(f"backup of {masked_url(url)} written and verified", report, as_json)


def restore(
    source: Annotated[Path, typer.Argument(help="a backup made by pump-service backup")],
    print_only: PrintOpt = False,
    database_url: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace the database by a backup (every server stopped first); the replaced one is kept."""
    ctx = CliContext.from_options(database_url, None)
    url = ctx.settings.database_url
    if _is_postgres(url):
        if print_only:
            print(restore_command(url, source).shown())
            return
        engine = make_engine(url)
        try:
            revision = pg_restore(engine, source)
            counts = row_counts(engine)
        finally:
            engine.dispose()
        payload = {"source": str(source), "revision": revision, "row_counts": counts}
        print(
            json.dumps(payload, indent=2)
            if as_json
            else f"{source} restored into {masked_url(url)} (schema revision {revision}, {sum(counts.values())} rows)"
        )
        return
    report = restore_sqlite(_sqlite_path(ctx), source, now=ctx.clock.now())
    _emit(f"{source} restored into {masked_url(url)} and verified", report, as_json)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(backup))
    app.command()(handle_errors(restore))
