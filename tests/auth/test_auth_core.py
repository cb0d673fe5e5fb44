"""Sign-in, sessions, CSRF, tokens and the principal dependency, through the real app."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import select

from pump_service.api.app import create_app
from pump_service.api.auth import SESSION_COOKIE, CurrentPrincipal, Principal, require
from pump_service.domain.access import Permission, Role
from pump_service.persistence.account_models import LoginSession, UserAccount
from pump_service.persistence.db import transaction
from pump_service.services.accounts import disable_station, disable_user, revoke_token
from pump_service.services.accounts.secrets_hash import secret_key
from pump_service.services.actor import Actor, current_actor
from pump_service.settings import Settings
from tests.auth_support import BENCH_STATION, ensure_bench_station, login_client, make_user, token_for
from tests.support import FixedClock


def _probe_app(app: FastAPI) -> FastAPI:
    """Two probe routes: what the endpoint and a later (sync) dependency see of the principal."""

    def later(principal: CurrentPrincipal) -> Actor | None:  # a sync dependency after the principal
        return current_actor()

    @app.get("/_probe")
    def probe(
        request: Request, principal: CurrentPrincipal, seen: Annotated[Actor | None, Depends(later)]
    ) -> dict[str, str | None]:
        actor = current_actor()
        return {
            "state_user": request.state.principal.user_id,
            "user": principal.user_id,
            "endpoint_actor": actor.user if actor else None,
            "endpoint_role": str(actor.role) if actor and actor.role else None,
            "dependency_actor": seen.user if seen else None,
        }

    @app.post("/_probe")
    def probe_write(principal: Annotated[Principal, Depends(require(Permission.RECORD_VISIT))]) -> dict[str, str]:
        return {"user": principal.user_id}

    return app


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FixedClock) -> FastAPI:
    return _probe_app(create_app(settings, clock=clock, engine=engine))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def _sign_in(client: TestClient, engine: Engine, settings: Settings, role: Role = Role.NURSE) -> tuple[str, str]:
    ensure_bench_station(engine, settings)
    username, password = make_user(engine, role)
    response = client.post(
        "/login",
        data={"username": username.upper(), "password": password, "station": BENCH_STATION, "next": "/_probe"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/_probe"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # loopback by default: the station's browser speaks plain HTTP
    with transaction(engine) as session:
        row = session.get(LoginSession, secret_key(client.cookies[SESSION_COOKIE]))
    assert row is not None  # stored under the token's hash, never the token
    return username, row.csrf_token


def test_principal_and_actor_are_visible_to_the_endpoint_and_later_dependencies(app: FastAPI) -> None:
    with login_client(app, Role.NURSE) as nurse:
        body = nurse.get("/_probe").json()
    assert body["endpoint_actor"] == body["user"] == body["dependency_actor"] == body["state_user"]
    assert body["endpoint_role"] == "nurse"
    assert current_actor() is None  # nothing leaks out of the request


def test_unauthenticated_is_a_401_problem_with_a_bearer_challenge(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/_probe", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert set(response.json()) >= {"type", "title", "status", "detail"}


def test_wrong_role_is_a_403_problem(app: FastAPI) -> None:
    with login_client(app, Role.BILLING) as billing:
        response = billing.post("/_probe")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403


def test_login_session_cookie_then_logout(client: TestClient, engine: Engine, settings: Settings) -> None:
    username, csrf = _sign_in(client, engine, settings)
    assert client.get("/_probe").json()["user"] == username
    assert client.post("/logout", follow_redirects=False).status_code == 403  # no CSRF token
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    with transaction(engine) as session:
        assert session.exec(select(LoginSession)).one().closed_at is not None
    client.cookies.clear()
    assert client.get("/_probe").status_code == 401


def test_cookie_writes_need_the_csrf_token(client: TestClient, engine: Engine, settings: Settings) -> None:
    _, csrf = _sign_in(client, engine, settings)
    assert client.post("/_probe").status_code == 403
    assert client.post("/_probe", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/_probe", headers={"X-CSRF-Token": csrf}).status_code == 200


def test_session_idle_and_absolute_expiry(
    client: TestClient, engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    _sign_in(client, engine, settings)
    for _ in range(30):  # busy all day: 25 min steps keep it alive until the 12 h limit
        clock.advance(25 * 60)
        if clock.now() - timedelta(hours=12) >= _created(engine):
            break
        assert client.get("/_probe").status_code == 200
    assert client.get("/_probe").status_code == 401
    _sign_in(client, engine, settings)
    clock.advance(30 * 60)
    assert client.get("/_probe").status_code == 401  # idle 30 min


def _created(engine: Engine):  # type: ignore[no-untyped-def]
    with transaction(engine) as session:
        return session.exec(select(func.min(LoginSession.created_at))).one()


def test_bad_password_unknown_user_disabled_look_alike_and_lockout(
    client: TestClient, engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    ensure_bench_station(engine, settings)
    username, password = make_user(engine, Role.NURSE)
    json = {"accept": "application/json"}

    def attempt(name: str, secret: str):  # type: ignore[no-untyped-def]
        return client.post(
            "/login",
            data={"username": name, "password": secret, "station": BENCH_STATION},
            headers=json,
            follow_redirects=False,
        )

    unknown, wrong = attempt("nobody-here", "whatever-long-pw"), attempt(username, "wrong-password-1")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]
    for _ in range(4):
        assert attempt(username, "wrong-password-1").status_code in (401, 429)
    locked = attempt(username, password)  # right password, but locked after 5 failures
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert locked.headers["content-type"] == "application/problem+json"
    clock.advance(15 * 60 + 1)
    assert attempt(username, password).status_code == 303
    with transaction(engine) as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == username)).one()
        assert user.failed_attempts == 0
        assert user.locked_until is None


def test_disabled_user_loses_sessions_and_tokens(
    app: FastAPI, client: TestClient, engine: Engine, settings: Settings
) -> None:
    username, _ = _sign_in(client, engine, settings)
    token = token_for(engine, username)
    assert client.get("/_probe").status_code == 200
    with transaction(engine) as session:
        disable_user(session, username, now=app.state.clock.now())
    assert client.get("/_probe").status_code == 401
    client.cookies.clear()
    assert client.get("/_probe", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_revoked_and_expired_tokens_stop_working(
    app: FastAPI, engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    from pump_service.services.accounts import issue_token

    ensure_bench_station(engine, settings)
    username, _ = make_user(engine, Role.BENCH)
    with transaction(engine) as session:
        short = issue_token(
            session, username, station_id=BENCH_STATION, now=clock.now(), expires_at=clock.now() + timedelta(days=1)
        ).token
        revoked = issue_token(session, username, station_id=BENCH_STATION, now=clock.now()).token
    with TestClient(app) as client:
        assert client.get("/_probe", headers={"Authorization": f"Bearer {short}"}).status_code == 200
        assert client.get("/_probe", headers={"Authorization": f"Bearer {revoked}"}).status_code == 200
        with transaction(engine) as session:
            revoke_token(session, revoked, now=clock.now())
        assert client.get("/_probe", headers={"Authorization": f"Bearer {revoked}"}).status_code == 401
        clock.advance(86400)
        assert client.get("/_probe", headers={"Authorization": f"Bearer {short}"}).status_code == 401


def test_login_redirects_only_to_local_paths(client: TestClient, engine: Engine, settings: Settings) -> None:
    ensure_bench_station(engine, settings)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        username, password = make_user(engine, Role.NURSE)
        response = client.post(
            "/login",
            data={"username": username, "password": password, "station": BENCH_STATION, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"


def test_login_page_lists_stations_and_remembers_the_last(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    _sign_in(client, engine, settings)
    page = client.get("/login")
    assert page.status_code == 200
    assert f'value="{BENCH_STATION}" selected' in page.text
    assert SESSION_COOKIE not in page.text


def test_a_disabled_station_s_tokens_are_refused_with_a_403_problem(app: FastAPI, engine: Engine) -> None:
    with login_client(app, Role.NURSE) as nurse:
        assert nurse.get("/_probe").status_code == 200
        with transaction(engine) as session:
            disable_station(session, BENCH_STATION, now=app.state.clock.now())
        response = nurse.get("/_probe")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert BENCH_STATION in response.json()["detail"]


def test_a_bench_account_acts_only_through_a_test_bench(
    client: TestClient, engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    """A bench may prescribe: on a ward station's programmer it would reprogram a patient's pump unattended."""
    from pump_service.persistence.account_models import ApiToken
    from pump_service.services.accounts import issue_token, register_station
    from pump_service.services.accounts.secrets_hash import new_secret
    from pump_service.services.scheduling.clinics import default_clinic

    ensure_bench_station(engine, settings)
    with transaction(engine) as session:
        clinic = default_clinic(session, settings, now=clock.now()).clinic_id
        register_station(
            session, "ward-1", clinic_id=clinic, programmer_url="/dev/ttyUSB0", now=clock.now(), created_by="t"
        )
    bench, password = make_user(engine, Role.BENCH)
    with transaction(engine) as session, pytest.raises(ValueError, match="test bench"):
        issue_token(session, bench, station_id="ward-1", now=clock.now())
    refused = client.post(
        "/login",
        data={"username": bench, "password": password, "station": "ward-1"},
        headers={"Accept": "application/json"},
        follow_redirects=False,
    )
    assert refused.status_code == 403, refused.text
    assert SESSION_COOKIE not in client.cookies
    # A token bound to a ward station some other way (e.g. before this rule) is refused too.
    stale = new_secret()
    with transaction(engine) as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == bench)).one()
        session.add(ApiToken(id=secret_key(stale), user_id=user.id or 0, station_id="ward-1", created_at=clock.now()))
    answer = client.get("/_probe", headers={"Authorization": f"Bearer {stale}"})
    assert answer.status_code == 403
    assert "test bench" in answer.json()["detail"]
    assert client.get("/_probe", headers={"Authorization": f"Bearer {token_for(engine, bench)}"}).status_code == 200
    nurse, _ = make_user(engine, Role.NURSE)
    with transaction(engine) as session:
        ward = issue_token(session, nurse, station_id="ward-1", now=clock.now()).token
    assert client.get("/_probe", headers={"Authorization": f"Bearer {ward}"}).status_code == 200
