"""Backup and restore of a PostgreSQL database with its own tools: ``pg_dump -Fc`` and ``pg_restore``.

pg_dump reads one consistent snapshot while the servers go on writing, so the service adds nothing
to it but the recipe: the libpq URL derived from the service's SQLAlchemy URL (the password goes in
``PGPASSWORD``, never on a command line that ``ps`` shows), a check of the dump (``pg_restore
--list``) and its schema revision. Restore refuses while anything else is connected to the target
database (a running ``serve`` would write into a half-restored schema) and when the dump's revision
is not one this code knows; it runs as one transaction, so a failed restore leaves the target as it was.
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from pump_service.errors import ConflictError
from pump_service.persistence.backup import BackupError
from pump_service.persistence.migrate import make_config

__all__ = ["PgRecipe", "dump_command", "pg_dump", "pg_restore", "restore_command", "row_counts"]

TOOL_TIMEOUT_S = 3600
_COPY_BLOCK = re.compile(r"^COPY [\w.\"]*alembic_version \(version_num\) FROM stdin;\n(?P<rows>.*?)^\\\.$", re.M | re.S)


@dataclass(frozen=True, slots=True)
class PgRecipe:
    """A command and the environment it needs (the password only there)."""

    argv: list[str]
    environment: dict[str, str]

    def shown(self) -> str:
        """The command as an operator would type it (the password left out)."""
        return " ".join(self.argv)


def _tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore`` on PATH, else the newest under /usr/lib/postgresql (Debian's layout)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return str(candidates[-1])


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL of a SQLAlchemy PostgreSQL URL, without its password, and the PGPASSWORD for it."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise BackupError("not a PostgreSQL URL")
    environment = {"PGPASSWORD": url.password} if url.password else {}
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environment


def dump_command(database_url: str, destination: Path) -> PgRecipe:
    target, environment = _libpq(database_url)
    argv = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={destination}", target]
    return PgRecipe(argv, environment)


def restore_command(database_url: str, source: Path) -> PgRecipe:
    target, environment = _libpq(database_url)
    argv = [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction"]
    argv += ["--exit-on-error", f"--dbname={target}", str(source)]
    return PgRecipe(argv, environment)


def _run(recipe: PgRecipe) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed tool and arguments built above
            recipe.argv,
            env={**os.environ, **recipe.environment},
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{Path(recipe.argv[0]).name} did not run: {exc}") from exc
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise BackupError(f"{Path(recipe.argv[0]).name} failed: {reason}")
    return done.stdout


def dump_revision(dump: Path) -> str | None:
    """The schema revision stored in a ``pg_dump -Fc`` file (its alembic_version row)."""
    script = _run(PgRecipe([_tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(dump)], {}))
    block = _COPY_BLOCK.search(script)
    rows = [] if block is None else [line for line in block.group("rows").splitlines() if line]
    return rows[0] if rows else None


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in each of the service's tables (the public schema), the alembic_version table left out."""
    with engine.connect() as connection:
        names = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        ).scalars()
        tables = [str(name) for name in names if name != "alembic_version"]
        return {name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()) for name in tables}  # noqa: S608


def pg_dump(database_url: str, destination: Path, *, force: bool = False) -> str | None:
    """Dump the database to ``destination`` (custom format), check it; the dump's schema revision.

    Raises:
        ConflictError: ``destination`` exists and ``force`` is not given.
        BackupError: pg_dump failed or its file cannot be listed.
    """
    if destination.exists() and not force:
        raise ConflictError(f"{destination} exists: give --force to overwrite it")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    try:
        _run(dump_command(database_url, partial))
        revision = dump_revision(partial)
        if revision is None:
            raise BackupError("the dump holds no schema revision: run pump-service migrate first")
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return revision


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(make_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _other_connections(engine: Engine) -> int:
    with engine.connect() as connection:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"  # not autovacuum
        )
        return int(connection.execute(text(query)).scalar_one())


def pg_restore(engine: Engine, source: Path) -> str:
    """Restore ``source`` into the database behind ``engine``; the restored schema revision.

    Raises:
        ConflictError: other sessions (a running server) are connected to the database.
        BackupError: the dump is unreadable, of an unknown revision, or pg_restore failed (nothing changed).
    """
    if not source.is_file():
        raise BackupError(f"no dump file at {source}")
    revision = dump_revision(source)
    if revision is None or not _known(revision):
        raise BackupError(f"{source} is at schema revision {revision}, which this version does not know")
    others = _other_connections(engine)
    if others:
        raise ConflictError(f"{others} other session(s) are connected to the database: stop every server first")
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()  # our own pooled connection must not block the restore's DROPs
    _run(restore_command(url, source))
    return revision
