"""Browsers for the page tests: a signed-in login session (cookie), asking for HTML as a browser does."""

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from pump_service.domain.access import Role
from tests.auth_support import ensure_bench_station, make_user

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def browser(app: FastAPI, role: Role | None) -> TestClient:
    """A client of ``app`` signed in through ``POST /login`` as a fresh user of ``role`` on the bench station.

    ``None``: not signed in. Redirects are not followed, so tests see them.
    """
    client = TestClient(app, headers=HTML, follow_redirects=False)
    if role is None:
        return client
    station = ensure_bench_station(app.state.engine, app.state.settings)
    username, password = make_user(app.state.engine, role)
    signed_in = client.post("/login", data={"username": username, "password": password, "station": station})
    if signed_in.status_code != 303 or "pump_session" not in client.cookies:
        raise AssertionError(f"sign-in failed: {signed_in.status_code} {signed_in.text[:200]}")
    return client


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The CSRF token the session's pages carry (read from the page at ``path``, as a browser would)."""
    html = client.get(path).text
    match = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    if match is None or not match.group(1):
        raise AssertionError(f"no CSRF token on {path}")
    return match.group(1)
