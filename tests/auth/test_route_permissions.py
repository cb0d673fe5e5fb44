"""Every API route is guarded; each role gets exactly the routes its permissions allow.

The matrix walks ``app.routes`` itself, so a new route is checked the moment it exists: without a
guard it fails ``test_every_route_needs_a_signed_in_principal``; with one, the matrix tries it with
every role. A refused request changes nothing in the database.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from pump_service.api.app import create_app
from pump_service.api.auth import api_routes, route_guard
from pump_service.domain.access import ROLE_PERMISSIONS, Permission, Role
from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import upgrade
from pump_service.settings import Settings
from tests.auth_support import login_client
from tests.support import FixedClock

# "/" sends the signed-out to /login and everyone else to their home page; it shows nothing itself.
# "/metrics", like "/health", is read by monitoring without a login: counts only, no patient data.
OPEN = {"/", "/health", "/metrics", "/login", "/logout", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}

# What the issue says each kind of action needs (a route moved to another permission must be a decision).
EXPECTED: dict[tuple[str, str], Permission | None] = {
    ("POST", "/pumps/{serial}/refills"): Permission.RECORD_VISIT,
    ("POST", "/pumps/{serial}/visits"): Permission.RECORD_VISIT,
    ("POST", "/pumps/{serial}/analyses"): Permission.RECORD_VISIT,
    ("POST", "/pumps/{serial}/reprogrammings"): Permission.PRESCRIBE,
    ("POST", "/charges/{event_id}/void"): Permission.MANAGE_CHARGES,
    ("GET", "/charges"): Permission.READ_BILLING,
    ("POST", "/clinics/{clinic_id}/billing"): Permission.MANAGE_CLINIC,
    ("PATCH", "/clinics/{clinic_id}"): Permission.MANAGE_CLINIC,
    ("POST", "/clinics/{clinic_id}/holidays"): Permission.MANAGE_CLINIC,
    ("GET", "/pumps"): Permission.READ_CLINICAL,
    ("POST", "/pumps"): Permission.MANAGE_PUMPS,
    ("POST", "/appointments/{appointment_id}/cancel"): Permission.MANAGE_SCHEDULE,
}

_PARAMS = {
    "serial": "NOPE-1",
    "clinic_id": "nowhere",
    "event_id": "nope",
    "appointment_id": "999",
    "notification_id": "999",
    "visit_key": "visit-key-0001",
    "day": "2026-11-26",
}


def _api_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in api_routes(app.routes) if r.path not in OPEN]


def _cases(app: FastAPI) -> list[tuple[str, str, Permission | None]]:
    cases = []
    for route in _api_routes(app):
        if not route.include_in_schema:
            continue  # pages: require_page answers with redirects and HTML, tested with the pages
        guard = route_guard(route)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            cases.append((method, route.path, guard.permission if guard else None))
    return cases


_PROBE_APP = create_app(Settings(database_url="sqlite://"))  # for the case list only; never serves


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, Engine, dict[Role, TestClient]]]:
    path: Path = tmp_path_factory.mktemp("matrix") / "pump.db"
    settings = Settings(database_url=f"sqlite:///{path}", station_id="test-station", clinic_tz="America/New_York")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    app = create_app(settings, clock=FixedClock(), engine=engine)
    clients = {role: login_client(app, role) for role in Role}
    yield app, engine, clients
    for client in clients.values():
        client.close()
    engine.dispose()


def _snapshot(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            name: sorted(map(repr, conn.execute(text(f'SELECT * FROM "{name}"')).all()))  # noqa: S608  (table names)
            for name in SQLModel.metadata.tables
        }


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: _PARAMS.get(m.group(1), "x"), path)


def test_every_route_needs_a_signed_in_principal() -> None:
    unguarded = [r.path for r in _api_routes(_PROBE_APP) if route_guard(r) is None]
    assert unguarded == []


def test_the_issue_s_examples_are_guarded_by_the_named_permission() -> None:
    found = {
        (method, route.path): guard.permission
        for route in _api_routes(_PROBE_APP)
        if (guard := route_guard(route)) is not None
        for method in route.methods or ()
    }
    assert {key: found.get(key) for key in EXPECTED} == EXPECTED
    assert not ROLE_PERMISSIONS[Role.BILLING] & {Permission.RECORD_VISIT}  # billing cannot record a refill
    assert Permission.MANAGE_CHARGES not in ROLE_PERMISSIONS[Role.NURSE]  # a nurse cannot void a charge
    assert [r for r, p in ROLE_PERMISSIONS.items() if Permission.MANAGE_USERS in p] == [Role.ADMIN]


@pytest.mark.parametrize(("method", "path", "permission"), _cases(_PROBE_APP), ids=lambda v: str(v))
def test_each_role_is_allowed_or_refused_by_the_route_s_permission(
    world: tuple[FastAPI, Engine, dict[Role, TestClient]], method: str, path: str, permission: Permission | None
) -> None:
    app, engine, clients = world
    url = _url(path)
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    anonymous = TestClient(app).request(method, url, json=body)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["content-type"] == "application/problem+json"
    for role, client in clients.items():
        allowed = permission is None or permission in ROLE_PERMISSIONS[role]
        before = None if allowed else _snapshot(engine)
        response = client.request(method, url, json=body)
        if allowed:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 403
            assert _snapshot(engine) == before
