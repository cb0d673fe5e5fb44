"""A throwaway PostgreSQL 15 server: started in a temporary directory, stopped and removed afterwards.

Used by the ``postgres``-marked tests and by the API benchmark. initdb refuses to run as root, so
the cluster belongs to the ``postgres`` OS user (``runuser``). Where PostgreSQL 15 or that user is
missing, :func:`unavailable_reason` says why and :func:`throwaway_postgres` raises
:class:`PostgresUnavailableError` with that reason.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PG_BIN", "PostgresUnavailableError", "throwaway_postgres", "unavailable_reason"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
TOOL_TIMEOUT_S = 60
INITDB_OPTIONS = ("-E", "UTF8", "--locale=C.UTF-8", "--no-sync")


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL 15 can be started here (the message says why)."""


def unavailable_reason() -> str | None:
    """Why no server can be started here, or None if one can."""
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL 15 binaries are not installed"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: initdb cannot be started"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' OS user to own the cluster"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(program: Path, *args: str, check: bool = True) -> None:
    """Run a PostgreSQL tool as the ``postgres`` user (initdb refuses root)."""
    command = [str(program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=check, capture_output=True, timeout=TOOL_TIMEOUT_S)  # noqa: S603


@contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """The base URL (without database) of a PostgreSQL server that lives for the block.

    ``durable=False`` runs it with ``fsync=off`` (``-F``), as the tests want; the benchmark asks for
    a durable one, so its figures compare with SQLite's ``synchronous=FULL``.

    Raises:
        PostgresUnavailableError: PostgreSQL 15 or the means to start it is missing, or it did not start.
    """
    reason = unavailable_reason()
    if reason is not None:
        raise PostgresUnavailableError(reason)
    base = Path(tempfile.mkdtemp(prefix="pumpsvc-pg-"))
    base.chmod(0o755)
    (base / "data").mkdir()
    (base / "sock").mkdir()
    if os.geteuid() == 0:
        for path in (base / "data", base / "sock", base):
            shutil.chown(path, "postgres")
    port = _free_port()
    data = str(base / "data")
    options = f"-h 127.0.0.1 -p {port} -k {base / 'sock'}" + ("" if durable else " -F")
    try:
        _run(
            PG_BIN / "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        _run(PG_BIN / "pg_ctl", "-D", data, "-l", str(base / "log"), "-w", "-o", options, "start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        said = getattr(exc, "stderr", None) or b""
        shutil.rmtree(base, ignore_errors=True)
        detail = f": {said.decode(errors='replace').strip()}" if said else ""
        raise PostgresUnavailableError(f"PostgreSQL did not start: {exc}{detail}") from exc
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        _run(PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)
