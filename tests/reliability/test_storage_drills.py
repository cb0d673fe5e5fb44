"""Storage drills against a real ``pump-service serve``: a full disk, a read-only database, two servers on one file.

Each refused write must be a ``application/problem+json`` 503 with Retry-After (never a plain-text
500), ``/health`` must say unhealthy while it lasts, the state before it must be intact, and the
service must recover by itself once the condition is lifted. The disk is filled two ways: the
server's own file size limit (``RLIMIT_FSIZE`` set to 0 with prlimit, so no file can grow; works
for any user) and, where this process may mount one, a real 64 MiB tmpfs filled to ENOSPC.
``pump-service migrate`` into a read-only place must end with one line and a non-zero exit code.
"""

import os
import resource
import shutil
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import downgrade, upgrade
from tests.reliability.server_support import (
    CLI,
    CLOCK,
    Server,
    Station,
    is_problem,
    prepare_station,
    refill_body,
    serving,
    sqlite_rows,
)

pytestmark = pytest.mark.slow
TIMEOUT_S = 60.0


def _post(server: Server, station: Station, serial: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{server.base}/pumps/{serial}/refills", json=body, headers=station.headers, timeout=TIMEOUT_S)


def _health(server: Server) -> httpx.Response:
    return httpx.get(f"{server.base}/health", timeout=TIMEOUT_S)


def _keys(database: Path) -> list[str]:
    return sorted(row[0] for row in sqlite_rows(database, "SELECT idempotency_key FROM refill"))


def _assert_refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code in (503, 507), response.text
    assert is_problem(response), response.headers.get("content-type")
    assert response.headers["retry-after"].isdigit()
    assert response.json()["type"] == "urn:pump-service:problem:storage-unavailable"
    assert any(word in response.json()["detail"] for word in words), response.json()["detail"]


def _assert_unhealthy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert is_problem(response)
    assert response.json()["type"] == "urn:pump-service:problem:unhealthy"


def _checkpointed(database: Path) -> None:
    """Fold the WAL into the file, so the file alone holds the data (as after a quiet night)."""
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_a_server_whose_files_may_not_grow_refuses_with_503_is_unhealthy_and_recovers(tmp_path: Path) -> None:
    database = tmp_path / "station.db"
    station = prepare_station(f"sqlite:///{database}", 3)
    first, refused_serial, _ = station.serials
    with serving(station.database_url) as server:
        assert _post(server, station, first, refill_body("full-before")).status_code == 201
        soft, hard = resource.prlimit(server.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (0, hard))  # no file of the server may grow now
        try:
            body = refill_body("full-refused")
            refused = _post(server, station, refused_serial, body)
            unhealthy = _health(server)
            assert _keys(database) == ["full-before"]  # the previous state, and nothing of the refused one
        finally:
            resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (soft, hard))  # the space is back
        retried = _post(server, station, refused_serial, body)
        healthy = _health(server)
    _assert_refused(refused, "disk")
    _assert_unhealthy(unhealthy)
    assert retried.status_code == 201, retried.text
    assert healthy.status_code == 200
    assert _keys(database) == ["full-before", "full-refused"]
    assert sqlite_rows(database, "PRAGMA integrity_check") == [("ok",)]


@contextmanager
def _tmpfs(where: Path, size_mib: int) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(where)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip() or done.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    """A ballast file grown until the filesystem says ENOSPC (megabytes, then pages)."""
    ballast = directory / "ballast"
    descriptor = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096):
            try:
                while True:
                    os.write(descriptor, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(descriptor)
    return ballast


def test_a_really_full_disk_refuses_with_503_is_unhealthy_and_recovers_when_space_returns(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk", 64) as disk:
        database = disk / "station.db"
        station = prepare_station(f"sqlite:///{database}", 3)
        first, refused_serial, _ = station.serials
        with serving(station.database_url) as server:
            assert _post(server, station, first, refill_body("enospc-before")).status_code == 201
            ballast = _fill(disk)
            body = refill_body("enospc-refused")
            refused = _post(server, station, refused_serial, body)
            unhealthy = _health(server)
            assert _keys(database) == ["enospc-before"]
            ballast.unlink()
            retried = _post(server, station, refused_serial, body)
            healthy = _health(server)
        keys = _keys(database)
        integrity = sqlite_rows(database, "PRAGMA integrity_check")
    _assert_refused(refused, "full", "disk")
    _assert_unhealthy(unhealthy)
    assert retried.status_code == 201, retried.text
    assert healthy.status_code == 200, healthy.text
    assert keys == ["enospc-before", "enospc-refused"]
    assert integrity == [("ok",)]


def _may_write(path: Path) -> bool:
    """Whether this process can write ``path`` (a file: open it for writing; a directory: create in it)."""
    try:
        if path.is_dir():
            probe = path / ".write-probe"
            probe.touch()
            probe.unlink()
        else:
            with path.open("r+b"):
                pass
    except OSError:
        return False
    return True


@contextmanager
def _read_only(*paths: Path) -> Iterator[None]:
    """Each path read-only for this process for real: chmod, and chattr +i where file modes do not stop root."""
    modes = {path: path.stat().st_mode for path in paths}
    immutable: list[Path] = []
    try:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
            if _may_write(path):
                if shutil.which("chattr") is None:
                    pytest.skip("running as root and chattr is missing: cannot make a file read-only")
                done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
                if done.returncode != 0:
                    pytest.skip(f"running as root and chattr +i failed: {done.stderr.decode().strip()}")
                immutable.append(path)
            assert not _may_write(path)
        yield
    finally:
        for path in immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        for path, mode in modes.items():
            path.chmod(mode)


def _until_not_503(call: Callable[[], httpx.Response], attempts: int = 3) -> httpx.Response:
    """A client's retries: a connection the pool opened while the file was read-only fails once more, then is gone."""
    for _ in range(attempts - 1):
        response = call()
        if response.status_code != 503:
            return response
    return call()


def test_a_server_on_a_read_only_database_refuses_with_503_is_unhealthy_and_recovers(tmp_path: Path) -> None:
    database = tmp_path / "station.db"
    station = prepare_station(f"sqlite:///{database}", 2)
    _checkpointed(database)
    before = _keys(database)
    with _read_only(database):
        server = Server(station.database_url)
        try:
            server.wait_ready(healthy=False)
            body = refill_body("read-only-refused")
            refused = _post(server, station, station.serials[0], body)
            unhealthy = _health(server)
            listed = httpx.get(f"{server.base}/pumps", headers=station.headers, timeout=TIMEOUT_S)
        except BaseException:
            server.stop()
            raise
    try:  # writable again: the same server takes a retry without a restart
        retried = _until_not_503(lambda: _post(server, station, station.serials[0], body))
        healthy = _until_not_503(lambda: _health(server))
    finally:
        server.stop()
    _assert_refused(refused, "read-only")
    _assert_unhealthy(unhealthy)
    assert "read-only" in unhealthy.json()["detail"]
    assert listed.status_code == 200  # reading still works
    assert before == []
    assert retried.status_code == 201, retried.text
    assert healthy.status_code == 200
    assert _keys(database) == ["read-only-refused"]


CLIENTS = 20
REFILLS_PER_CLIENT = 4
MAX_ATTEMPTS = 30


def test_two_servers_on_one_sqlite_file_answer_every_write_with_success_or_a_503_problem(tmp_path: Path) -> None:
    database = tmp_path / "station.db"
    station = prepare_station(f"sqlite:///{database}", CLIENTS * REFILLS_PER_CLIENT)
    seen: Counter[tuple[int, bool]] = Counter()
    plain_errors: list[str] = []
    acknowledged: set[str] = set()
    mutex = threading.Lock()
    with serving(station.database_url) as one, serving(station.database_url) as two:
        start = threading.Barrier(CLIENTS)

        def client(number: int) -> None:
            server = (one, two)[number % 2]
            with httpx.Client(base_url=server.base, headers=station.headers, timeout=TIMEOUT_S) as http:
                start.wait()
                for serial in station.serials[number::CLIENTS]:
                    key = f"two-servers-{serial}"
                    body = refill_body(key)
                    for _attempt in range(MAX_ATTEMPTS):
                        response = http.post(f"/pumps/{serial}/refills", json=body)
                        with mutex:
                            seen[(response.status_code, is_problem(response))] += 1
                            if not response.is_success and (response.status_code != 503 or not is_problem(response)):
                                plain_errors.append(f"{response.status_code}: {response.text[:200]}")
                        if response.status_code != 503:
                            break
                        assert response.headers["retry-after"].isdigit()
                        CLOCK.sleep(min(float(response.headers["retry-after"]), 2.0))
                    if response.is_success:
                        with mutex:
                            acknowledged.add(key)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert plain_errors == []
    assert {status for status, _problem in seen} <= {201, 503}
    assert acknowledged == {f"two-servers-{s}" for s in station.serials}  # every one landed, on a retry at worst
    assert _keys(database) == sorted(acknowledged)  # once each


def _migrate(url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PUMP_DATABASE_URL"}
    return subprocess.run(
        [str(CLI), "migrate", "--database-url", url], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot migrate")
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in done.stderr


def test_migrate_into_a_read_only_directory_is_one_clear_line(tmp_path: Path) -> None:
    directory = tmp_path / "locked"
    directory.mkdir()
    with _read_only(directory):
        in_it = _migrate(f"sqlite:///{directory}/pump.db")
        below_it = _migrate(f"sqlite:///{directory}/sub/pump.db")
    _assert_one_line_error(in_it, str(directory / "pump.db"))
    _assert_one_line_error(below_it, "directory")
    assert list(directory.iterdir()) == []


def test_migrate_of_an_unwritable_database_that_needs_an_upgrade_is_one_clear_line(tmp_path: Path) -> None:
    database = tmp_path / "station.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    downgrade(engine, "-1")  # one migration behind: migrate has something to write
    engine.dispose()
    _checkpointed(database)
    revision = sqlite_rows(database, "SELECT version_num FROM alembic_version")
    with _read_only(database):
        done = _migrate(f"sqlite:///{database}")
    _assert_one_line_error(done, "read-only")
    assert sqlite_rows(database, "SELECT version_num FROM alembic_version") == revision  # nothing changed
    assert _migrate(f"sqlite:///{database}").returncode == 0  # writable again: the same command goes through
