"""``users`` and ``stations`` commands, the loopback guard of ``serve``, and ``serve --demo``'s logins."""

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.persistence.audit_models import AuditEntry
from pump_service.persistence.db import make_engine, transaction
from pump_service.services.accounts import list_stations, resolve_token
from schemas.clock import SystemClock

runner = CliRunner()
_PHRASE = "a long enough passphrase"


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = empty_database_url
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    monkeypatch.setenv("PUMP_ACTOR", "admin-1")
    assert invoke("migrate")[0] == 0
    return url


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """uvicorn.run replaced by a recorder: the tests see what serve would listen on, and the app."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda api, **kw: calls.append({"app": api, **kw}))
    return calls


def test_users_add_list_disable_and_a_token_printed_once(db: str) -> None:
    code, out, err = invoke("users", "add", "Nurse.Kim", "--role", "nurse", "--password-stdin", stdin=_PHRASE + "\n")
    assert code == 0, out + err
    assert "nurse.kim" in out
    assert invoke("users", "add", "x1", "--role", "nurse", "--password-stdin", stdin="short\n")[0] == 2
    assert invoke("users", "add", "nurse.kim", "--role", "nurse", "--password-stdin", stdin=_PHRASE + "\n")[0] == 2
    assert invoke("users", "add", "x2", "--role", "wizard", "--password-stdin", stdin=_PHRASE + "\n")[0] == 2
    assert invoke("stations", "add", "st-1", "--clinic", "main", "--port", "sim://")[0] == 2  # sim:// needs a bench
    assert invoke("stations", "add", "st-1", "--clinic", "nowhere", "--port", "/dev/ttyUSB0")[0] == 2
    assert invoke("stations", "add", "st-0", "--clinic", "main", "--port", "ftp://x")[0] == 2  # no transport
    code, out, err = invoke("stations", "add", "st-1", "--clinic", "main", "--port", "sim://", "--test-bench")
    assert code == 0, out + err
    assert "st-1" in invoke("stations", "list")[1]
    code, token, err = invoke("users", "token", "nurse.kim", "--station", "st-1", "--label", "ward pc")
    assert code == 0, err
    token = token.strip()
    assert "not shown again" in err
    engine = make_engine(db)
    with transaction(engine) as session:
        assert resolve_token(session, token, now=_now())[1].username == "nurse.kim"
    code, out, _ = invoke("users", "list")
    assert "nurse.kim" in out
    assert "enabled" in out
    assert invoke("users", "disable", "nurse.kim")[0] == 0
    assert "disabled" in invoke("users", "list")[1]
    with transaction(engine) as session, pytest.raises(PermissionError):
        resolve_token(session, token, now=_now())
    assert invoke("stations", "disable", "st-1")[0] == 0
    with transaction(engine) as session:
        assert [s.disabled for s in list_stations(session)] == [True]
    engine.dispose()


def test_account_and_station_changes_are_attributed_to_who_ran_the_command(db: str) -> None:
    """A token issued, an account or a station disabled: each audit entry names the admin, not "system"."""
    assert invoke("users", "add", "nurse.lee", "--role", "nurse", "--password-stdin", stdin=_PHRASE + "\n")[0] == 0
    assert invoke("stations", "add", "st-2", "--clinic", "main", "--port", "sim://", "--test-bench")[0] == 0
    code, _, err = invoke("users", "token", "nurse.lee", "--station", "st-2")
    assert code == 0, err
    assert invoke("users", "disable", "nurse.lee", "--actor", "admin-2")[0] == 0
    assert invoke("stations", "disable", "st-2")[0] == 0
    engine = make_engine(db)
    with transaction(engine) as session:
        entries = session.exec(
            select(AuditEntry).where(col(AuditEntry.entity).in_(["api_token", "user_account", "station"]))
        ).all()
        who = {(e.entity, e.action): e.actor_user for e in entries}
    engine.dispose()
    assert who[("api_token", "insert")] == "admin-1"
    assert who[("user_account", "update")] == "admin-2"
    assert who[("station", "update")] == "admin-1"
    assert "system" not in who.values()


def _now() -> datetime:
    """The CLI runs on the system clock: its token is checked against the same."""
    return SystemClock().now()


def test_serve_refuses_a_non_loopback_address_until_an_admin_exists(db: str, served: list[dict[str, Any]]) -> None:
    code, _, err = invoke("serve", "--host", "0.0.0.0", "--no-scheduler")  # noqa: S104
    assert code == 2
    assert "no enabled admin" in err
    assert served == []
    assert invoke("serve", "--host", "127.0.0.1", "--no-scheduler")[0] == 0  # loopback: fine without one
    assert invoke("users", "add", "root", "--role", "admin", "--password-stdin", stdin=_PHRASE + "\n")[0] == 0
    assert invoke("serve", "--host", "0.0.0.0", "--no-scheduler")[0] == 0  # noqa: S104
    assert [c["host"] for c in served] == ["127.0.0.1", "0.0.0.0"]  # noqa: S104
    assert invoke("users", "disable", "root")[0] == 0
    assert invoke("serve", "--host", "0.0.0.0", "--no-scheduler")[0] == 2  # a disabled admin does not count  # noqa: S104


def test_serve_demo_prints_logins_that_work_on_the_demo_bench(
    db: str, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUMP_DEVICE_URL", "sim://programmable-20?serial=SM20-0003&volume=10")
    code, out, err = invoke("serve", "--demo", "--no-scheduler")
    assert code == 0, out + err
    assert "http://127.0.0.1:8000/login" in out
    line = next(row for row in out.splitlines() if row.strip().startswith("demo-nurse"))
    password = line.split()[-1]
    [call] = served
    with TestClient(call["app"]) as client:
        response = client.post(
            "/login",
            data={"username": "demo-nurse", "password": password, "station": "bench-1"},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        assert client.get("/pumps").status_code == 200
    engine = make_engine(db)
    with transaction(engine) as session:
        [bench] = list_stations(session)
    engine.dispose()
    assert (bench.id, bench.is_test_bench, bench.programmer_url) == (
        "bench-1",
        True,
        "sim://programmable-20?serial=SM20-0003&volume=10",
    )


def test_serve_demo_on_a_reachable_address_never_shows_or_keeps_the_demo_passwords(
    db: str, served: list[dict[str, Any]]
) -> None:
    assert invoke("serve", "--demo", "--no-scheduler")[0] == 0
    code, out, _ = invoke("serve", "--demo", "--no-scheduler", "--host", "0.0.0.0")  # noqa: S104
    assert code == 0  # the demo admin exists
    assert "demo-nurse-password" not in out
    with TestClient(served[-1]["app"]) as client:
        response = client.post(
            "/login",
            data={"username": "demo-nurse", "password": "demo-nurse-password", "station": "bench-1"},
            headers={"accept": "application/json"},
        )
    assert response.status_code == 401
