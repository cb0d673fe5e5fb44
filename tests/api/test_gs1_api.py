"""POST /gs1/parse: what the wizard's scan field sends, for the roles that record visits."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.settings import Settings
from tests.auth_support import login_client
from tests.support import T0, FixedClock

SCAN = "]d2" + "0100304091234017" + "17261130" + "10AB12C" + "\x1d" + "21SN0042"


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FixedClock) -> FastAPI:
    return create_app(settings, clock=clock, engine=engine)


def test_a_scan_gives_gtin_ndc_lot_expiry_and_serial(app: FastAPI) -> None:
    answer = login_client(app, Role.NURSE).post("/gs1/parse", json={"data": SCAN})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "gtin": "00304091234017",
        "ndc": "0409123401",
        "lot": "AB12C",
        "expires_on": "2026-11-30",
        "serial": "SN0042",
        "expired": False,
        "drug_id": None,  # the catalogue has no NDCs: the nurse picks the drug
    }


def test_an_expired_vial_is_flagged(app: FastAPI, clock: FixedClock) -> None:
    clock.set(T0 + timedelta(days=40))
    assert login_client(app, Role.NURSE).post("/gs1/parse", json={"data": SCAN}).json()["expired"] is True


def test_a_malformed_scan_is_a_422_naming_the_problem(app: FastAPI) -> None:
    answer = login_client(app, Role.NURSE).post("/gs1/parse", json={"data": "0100304091234018"})
    assert answer.status_code == 422
    assert "check digit" in answer.text


@pytest.mark.parametrize("role", [Role.BILLING, Role.MANAGER, Role.ADMIN])
def test_only_roles_that_record_visits_may_parse(app: FastAPI, role: Role) -> None:
    assert login_client(app, role).post("/gs1/parse", json={"data": SCAN}).status_code == 403


def test_unauthenticated_is_401(app: FastAPI) -> None:
    assert TestClient(app).post("/gs1/parse", json={"data": SCAN}).status_code == 401
