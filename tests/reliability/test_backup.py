"""``pump-service backup`` and ``restore`` on SQLite, run as commands against a live server.

The backup is taken while a real ``serve`` records refills from several clients: every refill the
server acknowledged before the backup started is in the copy, the copy passes its own checks, and
a restore brings exactly that back (and a server then reads the refills from it). Restore refuses
while a server runs on the database, and refuses a damaged or unknown-revision backup.
"""

import json
import os
import sqlite3
import subprocess
import threading
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from pump_service.persistence.migrate import head_revision
from tests.reliability.server_support import CLI, CLOCK, Station, prepare_station, refill_body, serving, sqlite_rows

pytestmark = pytest.mark.slow
CLIENTS = 6


def _command(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PUMP_DATABASE_URL": f"sqlite:///{database}"}
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def _keys(database: Path) -> set[str]:
    return {row[0] for row in sqlite_rows(database, "SELECT idempotency_key FROM refill")}


class _Load:
    """Clients recording refills until told to stop; the keys acknowledged so far."""

    def __init__(self, base: str, station: Station) -> None:
        self.acknowledged: set[str] = set()
        self.failures: list[str] = []
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(base, station, station.serials[1:][c::CLIENTS]))
            for c in range(CLIENTS)
        ]

    def _client(self, base: str, station: Station, serials: list[str]) -> None:
        with httpx.Client(base_url=base, headers=station.headers, timeout=60.0) as http:
            for serial in serials:
                if self._stop.is_set():
                    return
                key = f"backup-{serial}"
                response = http.post(f"/pumps/{serial}/refills", json=refill_body(key))
                with self._mutex:
                    if response.status_code == 201:
                        self.acknowledged.add(key)
                    else:
                        self.failures.append(response.text)

    def snapshot(self) -> set[str]:
        with self._mutex:
            return set(self.acknowledged)

    def __enter__(self) -> "_Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        """Stop the clients after their current request (idempotent)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_a_backup_taken_under_load_holds_every_acknowledged_refill_and_restores_them(tmp_path: Path) -> None:
    database = tmp_path / "station.db"
    station = prepare_station(f"sqlite:///{database}", 60)
    backup = tmp_path / "backups" / "station-backup.db"
    with serving(station.database_url) as server, _Load(server.base, station) as load:
        while len(load.snapshot()) < 10:
            CLOCK.sleep(0.05)
        before = load.snapshot()  # acknowledged before the backup started
        made = _command("backup", str(backup), "--json", database=database)
        during = load.snapshot()
        refused = _command("backup", str(backup), database=database)
        restore_refused = _command("restore", str(backup), database=database)
        load.__exit__()
        late = station.serials[0]  # recorded after the backup: the restore must take it away again
        after = httpx.post(
            f"{server.base}/pumps/{late}/refills",
            json=refill_body(f"backup-{late}"),
            headers=station.headers,
            timeout=60,
        )
    assert after.status_code == 201, after.text
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert report["integrity"] == "ok"
    assert report["revision"] == head_revision()
    assert load.failures == []
    copied = _keys(backup)
    assert before <= copied  # every refill acknowledged before the backup began is in it
    assert report["row_counts"]["refill"] == len(copied)
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert restore_refused.returncode == 2
    assert "server is running" in restore_refused.stderr
    assert sqlite_rows(backup, "PRAGMA integrity_check") == [("ok",)]
    assert not Path(f"{backup}-wal").exists()  # one self-contained file

    assert _keys(database) > copied  # the live database moved on; now take it back to the backup
    restored = _command("restore", str(backup), "--json", database=database)
    assert restored.returncode == 0, restored.stderr
    outcome = json.loads(restored.stdout)
    assert _keys(database) == copied
    assert outcome["row_counts"] == report["row_counts"]
    saved = Path(outcome["saved_previous"])
    assert _keys(saved) >= during | {f"backup-{late}"}  # what the restore replaced is kept, not lost

    some = sorted(copied)[0].removeprefix("backup-")
    with serving(station.database_url) as server:
        listed = httpx.get(f"{server.base}/pumps/{some}/refills", headers=station.headers, timeout=30)
        again = httpx.post(
            f"{server.base}/pumps/{some}/refills",
            json=refill_body(f"backup-{some}"),
            headers=station.headers,
            timeout=30,
        )
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 1
    assert again.status_code in (200, 201, 409)  # the key is known: never recorded a second time
    assert _keys(database) == copied


def test_backup_overwrites_only_with_force(tmp_path: Path) -> None:
    database = tmp_path / "station.db"
    prepare_station(f"sqlite:///{database}", 1)
    backup = tmp_path / "b.db"
    backup.write_text("not a backup")
    assert _command("backup", str(backup), database=database).returncode == 2
    assert backup.read_text() == "not a backup"
    forced = _command("backup", str(backup), "--force", database=database)
    assert forced.returncode == 0, forced.stderr
    assert "integrity          ok" in forced.stdout
    assert sqlite_rows(backup, "SELECT count(*) FROM pump") == [(1,)]


def test_restore_refuses_a_damaged_backup_and_an_unknown_revision_and_changes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "station.db"
    prepare_station(f"sqlite:///{database}", 2)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    future = tmp_path / "future.db"
    assert _command("backup", str(future), database=database).returncode == 0
    with closing(sqlite3.connect(future)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from_a_later_version_9999'")
        connection.execute("DELETE FROM pump")
    for source, why in ((garbage, "not a readable SQLite database"), (future, "does not know")):
        refused = _command("restore", str(source), database=database)
        assert refused.returncode != 0
        assert why in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert sqlite_rows(database, "SELECT count(*) FROM pump") == [(2,)]
    assert not list(tmp_path.glob("station.db.before-restore-*"))  # refused before anything was touched


def test_backup_of_a_missing_database_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "pump.db"
    done = _command("backup", str(tmp_path / "b.db"), database=missing)
    assert done.returncode != 0
    assert "no database" in done.stderr
    assert "Traceback" not in done.stderr
    assert not missing.exists()  # a backup never creates the database it was asked to copy
