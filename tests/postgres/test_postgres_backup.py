"""``pump-service backup`` / ``restore`` on PostgreSQL: a real pg_dump -Fc restored into a fresh database.

The refills are recorded by a real ``serve``; the dump is restored with pg_restore into a new,
empty database, whose row counts match the original's, and a server on the restored database
reads a refill back. A restore is refused while a server is connected to the target.
"""

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from pump_service.persistence.backup_postgres import row_counts
from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import head_revision
from tests.reliability.server_support import CLI, prepare_station, refill_body, serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def databases(postgres_server: str) -> Iterator[tuple[str, str]]:
    """Two database URLs on the throwaway server: one to fill, one left empty for the restore."""
    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = make_url(postgres_server).set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server}/{names[0]}", f"{postgres_server}/{names[1]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in names:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _command(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PUMP_DATABASE_URL": url}
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        return row_counts(engine)
    finally:
        engine.dispose()


def test_a_pg_dump_restores_into_a_fresh_database_with_every_row_and_a_readable_refill(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    source, fresh = databases
    station = prepare_station(source, 3)
    with serving(source) as server:
        for serial in station.serials:
            body = refill_body(f"pg-backup-{serial}")
            response = httpx.post(
                f"{server.base}/pumps/{serial}/refills", json=body, headers=station.headers, timeout=60
            )
            assert response.status_code == 201, response.text
    dump = tmp_path / "station.dump"
    shown = _command("backup", str(dump), "--print", url=source)
    assert shown.returncode == 0
    assert "pg_dump --format=custom" in shown.stdout
    assert not dump.exists()  # --print runs nothing
    made = _command("backup", str(dump), "--json", url=source)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["revision"] == head_revision()
    assert _command("backup", str(dump), url=source).returncode == 2  # no overwrite without --force

    restored = _command("restore", str(dump), "--json", url=fresh)
    assert restored.returncode == 0, restored.stderr
    expected = _counts(source)
    assert expected["refill"] == 3
    assert json.loads(restored.stdout)["row_counts"] == expected
    assert _counts(fresh) == expected

    with serving(fresh) as server:
        listed = httpx.get(f"{server.base}/pumps/{station.serials[0]}/refills", headers=station.headers, timeout=30)
        refused = _command("restore", str(dump), url=fresh)
    assert listed.status_code == 200, listed.text
    assert [item["pump_serial"] for item in listed.json()["items"]] == [station.serials[0]]
    assert refused.returncode == 2
    assert "stop every server" in refused.stderr


def test_restore_refuses_a_file_that_is_not_a_dump(databases: tuple[str, str], tmp_path: Path) -> None:
    _source, fresh = databases
    bogus = tmp_path / "bogus.dump"
    bogus.write_bytes(b"PGDMP" + os.urandom(256))
    refused = _command("restore", str(bogus), url=fresh)
    assert refused.returncode != 0
    assert "pg_restore failed" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
