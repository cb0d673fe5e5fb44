"""Signed-in test clients: a fresh account of a role, with a bearer token on the test bench."""

import functools
import hashlib
import itertools
import secrets

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.domain.access import Role
from pump_service.persistence.account_models import UserAccount
from pump_service.persistence.db import transaction
from pump_service.services.accounts import add_user, find_user, hash_password, issue_token, register_station, station_of
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


def ensure_bench_station(
    engine: Engine, settings: Settings, station_id: str = BENCH_STATION, programmer_url: str = "sim://"
) -> str:
    """The test-bench station ``station_id`` on ``programmer_url`` in the default clinic (created if missing)."""
    with transaction(engine) as session:
        try:
            station_of(session, station_id)
        except LookupError:
            clinic = default_clinic(session, settings, now=T0)
            register_station(
                session,
                station_id,
                clinic_id=clinic.clinic_id,
                programmer_url=programmer_url,
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


@functools.cache
def _token_only_hash() -> str:
    """One hash for every token-only test account (no test signs in with its password)."""
    return hash_password(secrets.token_urlsafe(16))


def _token_only_user(engine: Engine, role: Role, username: str | None) -> str:
    name = username or f"{role.value}-{next(_serial)}-{secrets.token_hex(3)}"
    with transaction(engine) as session:
        session.add(
            UserAccount(
                username=name,
                display_name=name,
                role=role,
                password_hash=_token_only_hash(),
                created_at=T0,
                created_by="test-setup",
            )
        )
    return name


def login_client(
    app: FastAPI,
    role: Role,
    *,
    programmer_url: str = "sim://",
    username: str | None = None,
    station_id: str | None = None,
) -> TestClient:
    """A client authenticated as a fresh user of ``role`` (bearer token on a test-bench station).

    The station is ``bench-test`` on ``sim://``, or one of its own for another ``programmer_url``
    (e.g. a simulated programmer a test registered under its own ``sim://`` name).
    """
    engine: Engine = app.state.engine
    station_id = station_id or (
        BENCH_STATION
        if programmer_url == "sim://"
        else f"bench-{hashlib.sha256(programmer_url.encode()).hexdigest()[:10]}"
    )
    station = ensure_bench_station(engine, app.state.settings, station_id, programmer_url)
    username = _token_only_user(engine, role, username)
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token_for(engine, username, station)}"
    return client
