"""Where the data lives: one database whatever the working directory, and none created by accident.

Regression: `cd elsewhere && pump-service pumps list` used to create a new, empty
`./var/pump.db` there (the default URL was relative to the working directory).
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.persistence.migrate import head_revision
from pump_service.settings import DatabaseOrigin, Settings

runner = CliRunner()
CLI = Path(sys.executable).with_name("pump-service")


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def info_json(*args: str) -> dict[str, Any]:
    code, out, err = invoke("info", "--json", *args)
    assert code == 0, out + err
    data: dict[str, Any] = json.loads(out)
    return data


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory that does not exist yet."""
    home = tmp_path / "home" / "pump-data"
    monkeypatch.setenv("PUMP_HOME", str(home))
    monkeypatch.setenv("PUMP_ACTOR", "nurse-7")
    return home


def workdir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def test_commands_started_from_different_directories_share_one_database(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = [workdir(tmp_path, name) for name in ("a", "b", "c")]
    monkeypatch.chdir(dirs[0])
    assert invoke("migrate")[0] == 0
    monkeypatch.chdir(dirs[1])
    assert invoke("patients", "add", "P-1")[0] == 0
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1")[0] == 0
    monkeypatch.chdir(dirs[2])
    code, out, err = invoke("pumps", "list", "--json")
    assert code == 0, err
    assert [p["serial"] for p in json.loads(out)] == ["HAI-1"]
    assert (home / "pump.db").is_file()
    assert [tree(d) for d in dirs] == [[], [], []]  # no ./var/pump.db anywhere


def test_the_installed_command_uses_the_same_database_from_any_directory(tmp_path: Path, home: Path) -> None:
    env = {**os.environ, "PUMP_LOG_LEVEL": "info"}
    first, second = workdir(tmp_path, "first"), workdir(tmp_path, "second")

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)

    assert run(first, "migrate").returncode == 0
    assert run(first, "patients", "add", "P-9").returncode == 0
    listed = run(second, "pumps", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"database sqlite:///{home}/pump.db (data_dir)" in listed.stderr  # PUMP_LOG_LEVEL=info names it
    assert tree(second) == []
    refused = run(second, "pumps", "list", "--database-url", "sqlite:///var/pump.db")
    assert refused.returncode == 2
    assert f"no database at {second}/var/pump.db" in refused.stderr
    assert tree(second) == []


@pytest.mark.parametrize(
    "command",
    [
        ["pumps", "list"],
        ["pumps", "show", "HAI-1"],
        ["patients", "add", "P-1"],
        ["due"],
        ["tick"],
        ["schedule"],
        ["charges", "list"],
        ["refill", "start", "HAI-1", "--no-interrogate"],
    ],
)
def test_a_missing_database_is_refused_and_nothing_is_created(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    cwd = workdir(tmp_path, "cwd")
    monkeypatch.chdir(cwd)
    code, _, err = invoke(*command)
    assert code == 2
    assert f"no database at {home}/pump.db" in err
    assert "pump-service migrate" in err
    assert "PUMP_HOME" in err
    assert "PUMP_DATABASE_URL" in err
    assert not home.exists()
    assert not (tmp_path / "home").exists()
    assert tree(cwd) == []


def test_a_missing_database_given_by_url_is_refused_without_creating_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "nowhere" / "deeper" / "pump.db"
    monkeypatch.setenv("PUMP_DATABASE_URL", f"sqlite:///{target}")
    code, _, err = invoke("due")
    assert code == 2
    assert f"no database at {target}" in err
    assert not (tmp_path / "nowhere").exists()


def test_migrate_creates_the_data_directory_and_then_commands_work(home: Path) -> None:
    code, out, _ = invoke("migrate")
    assert code == 0
    assert f"sqlite:///{home}/pump.db" in out
    assert (home / "pump.db").is_file()
    assert invoke("due")[0] == 0


def test_info_reports_a_missing_database_without_creating_it(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUMP_STATION_ID", "bench-3")
    monkeypatch.setenv("PUMP_CLINIC_TZ", "Europe/Vienna")
    monkeypatch.setenv("PUMP_DEVICE_URL", "socket://127.0.0.1:7000")
    data = info_json()
    assert data["data_dir"] == str(home)
    assert data["database_url"] == f"sqlite:///{home}/pump.db"
    assert data["database_origin"] == "data_dir"
    assert data["database_file"] == str(home / "pump.db")
    assert data["database_exists"] is False
    assert data["schema_state"] == "no_database"
    assert data["schema_revision"] is None
    assert data["schema_head"] == head_revision()
    assert (data["device_url"], data["station_id"], data["clinic_tz"]) == (
        "socket://127.0.0.1:7000",
        "bench-3",
        "Europe/Vienna",
    )
    assert data["version"] == "0.1.0"
    code, out, _ = invoke("info")
    assert code == 0
    assert f"{home}/pump.db" in out
    assert "no: create it with `pump-service migrate`" in out
    assert not home.exists()


def test_info_reports_the_schema_revision_against_head(home: Path) -> None:
    assert invoke("migrate")[0] == 0
    data = info_json()
    assert data["database_exists"] is True
    assert data["schema_state"] == "at_head"
    assert data["schema_revision"] == head_revision() is not None
    code, out, _ = invoke("info")
    assert code == 0
    assert f"{head_revision()} (at head)" in out


def test_info_reports_an_empty_file_as_not_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    monkeypatch.setenv("PUMP_DATABASE_URL", f"sqlite:///{empty}")
    data = info_json()
    assert (data["database_exists"], data["schema_state"], data["database_origin"]) == (True, "not_migrated", "given")


def test_info_masks_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUMP_DATABASE_URL", "postgresql+psycopg://nurse:s3cret-pw@127.0.0.1:1/pumps?connect_timeout=2")
    code, out, err = invoke("info")
    assert code == 0, err
    assert "s3cret-pw" not in out
    assert "postgresql+psycopg://nurse:***@127.0.0.1:1/pumps" in out
    data = info_json()
    assert "s3cret-pw" not in json.dumps(data)
    assert (data["database_exists"], data["schema_state"]) == (None, "unreachable")


def test_database_url_wins_over_pump_home(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/elsewhere.db"
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    data = info_json()
    assert (data["database_url"], data["database_origin"], data["data_dir"]) == (url, "given", str(home))
    option = f"sqlite:///{tmp_path}/option.db"
    assert info_json("--database-url", option)["database_url"] == option  # the option beats the variable


def test_pump_home_moves_the_default_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUMP_HOME", str(tmp_path / "station-data"))
    assert info_json()["database_url"] == f"sqlite:///{tmp_path}/station-data/pump.db"


def test_a_relative_pump_home_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUMP_HOME", "rel-home")
    assert info_json()["data_dir"] == str(tmp_path / "rel-home")


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG rule is the Linux default")
def test_without_pump_home_the_xdg_data_directory_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUMP_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    data = info_json()
    assert data["data_dir"] == str(tmp_path / "xdg" / "pump-service")
    assert data["database_url"] == f"sqlite:///{tmp_path}/xdg/pump-service/pump.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert info_json()["data_dir"] == str(tmp_path / "user" / ".local" / "share" / "pump-service")


def test_a_relative_sqlite_path_is_resolved_once_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir(tmp_path, "start"))
    monkeypatch.setenv("PUMP_DATABASE_URL", "sqlite:///var/pump.db?timeout=3")
    data = info_json()
    assert data["database_url"] == f"sqlite:///{tmp_path}/start/var/pump.db?timeout=3"
    assert data["database_origin"] == "resolved"
    code, out, _ = invoke("info")
    assert code == 0
    assert "resolved against the working directory" in out
    settings = Settings(database_url="sqlite:///var/pump.db")
    monkeypatch.chdir(tmp_path)  # later changes of directory do not move it
    assert settings.database_url == f"sqlite:///{tmp_path}/start/var/pump.db"
    assert settings.database_origin is DatabaseOrigin.RESOLVED


def test_in_memory_and_absolute_urls_are_kept_as_given(tmp_path: Path) -> None:
    assert Settings(database_url="sqlite://").database_url == "sqlite://"
    assert Settings(database_url=f"sqlite:///{tmp_path}/x.db").database_origin is DatabaseOrigin.GIVEN


def test_settings_come_from_the_data_directory_env_file_not_the_working_directory(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.mkdir(parents=True)
    (home / ".env").write_text("PUMP_STATION_ID=from-home\nPUMP_CLINIC_TZ=Europe/Paris\n")
    cwd = workdir(tmp_path, "cwd")
    (cwd / ".env").write_text("PUMP_STATION_ID=from-cwd\nPUMP_DATABASE_URL=sqlite:///cwd.db\n")
    monkeypatch.chdir(cwd)
    data = info_json()
    assert (data["station_id"], data["clinic_tz"]) == ("from-home", "Europe/Paris")
    assert data["database_url"] == f"sqlite:///{home}/pump.db"
    assert data["env_file"] == str(home / ".env")
    monkeypatch.setenv("PUMP_STATION_ID", "from-env")
    assert info_json()["station_id"] == "from-env"  # the environment beats the file


def test_each_command_can_log_its_database(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert invoke("migrate")[0] == 0
    caplog.set_level(logging.INFO, logger="pump_service.cli.context")
    assert invoke("due")[0] == 0
    assert f"database sqlite:///{home}/pump.db (data_dir)" in caplog.messages
