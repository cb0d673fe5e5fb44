"""Signed-in test clients: a fresh account of a role, with a bearer token on the test bench."""

import itertools
import secrets

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.domain.access import Role
from pump_service.persistence.db import transaction
from pump_service.services.accounts import add_user, find_user, issue_token, register_station, station_of
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from tests.support import T0

__all__ = ["BENCH_STATION", "ensure_bench_station", "login_client", "make_user", "token_for"]

BENCH_STATION = "bench-test"
_serial = itertools.count(1)


def make_user(engine: Engine, role: Role, username: str | None = None, password: str | None = None) -> tuple[str, str]:
    """A new enabled account of ``role``; returns its (username, password)."""
    name = username or f"{role.value}-{next(_serial)}-{secrets.token_hex(3)}"
    secret = password or f"pw-{secrets.token_urlsafe(12)}"
    with transaction(engine) as session:
        add_user(session, name, role=role, password=secret, now=T0, created_by="test-setup")
    return name.lower(), secret


def ensure_bench_station(engine: Engine, settings: Settings, station_id: str = BENCH_STATION) -> str:
    """The test-bench station ``station_id`` on ``sim://`` in the default clinic (created if missing)."""
    with transaction(engine) as session:
        try:
            station_of(session, station_id)
        except LookupError:
            clinic = default_clinic(session, settings, now=T0)
            register_station(
                session,
                station_id,
                clinic_id=clinic.clinic_id,
                programmer_url="sim://",
                is_test_bench=True,
                label="test bench",
                now=T0,
                created_by="test-setup",
            )
    return station_id


def token_for(engine: Engine, username: str, station_id: str = BENCH_STATION) -> str:
    """A bearer token of ``username`` bound to ``station_id``."""
    with transaction(engine) as session:
        if find_user(session, username) is None:
            raise LookupError(username)
        return issue_token(session, username, station_id=station_id, now=T0, label="test").token


def login_client(app: FastAPI, role: Role) -> TestClient:
    """A client authenticated as a fresh user of ``role`` (bearer token on the ``bench-test`` station)."""
    engine: Engine = app.state.engine
    station = ensure_bench_station(engine, app.state.settings)
    username, _ = make_user(engine, role)
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token_for(engine, username, station)}"
    return client
