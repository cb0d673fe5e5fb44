"""A throwaway PostgreSQL 15 for the ``postgres``-marked tests, started and removed by the suite.

initdb refuses to run as root, so the cluster belongs to the ``postgres`` OS user (``runuser``).
Where PostgreSQL 15 or that user is missing the tests are skipped with the reason.
"""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(program: Path, *args: str, check: bool = True) -> None:
    """Run a PostgreSQL tool as the ``postgres`` user (initdb refuses root)."""
    command = [str(program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=check, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL (without database) of a PostgreSQL server living for this test session."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 binaries are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb cannot be started")
    base = Path(tempfile.mkdtemp(prefix="pumpsvc-pg-"))
    base.chmod(0o755)
    (base / "data").mkdir()
    (base / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(base / "data", "postgres")
        shutil.chown(base / "sock", "postgres")
        shutil.chown(base, "postgres")
    port = _free_port()
    data = str(base / "data")
    _run(PG_BIN / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
    options = f"-h 127.0.0.1 -p {port} -k {base / 'sock'} -F"
    _run(PG_BIN / "pg_ctl", "-D", data, "-l", str(base / "log"), "-w", "-o", options, "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        _run(PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)
