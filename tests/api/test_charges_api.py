import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.services.actor import Actor
from pump_service.settings import Settings
from tests.auth_support import login_client
from tests.charge_support import bill_refill, billed_body, register_hai
from tests.support import T0, FixedClock


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FixedClock) -> FastAPI:
    return create_app(settings, clock=clock, engine=engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A biller: reads charges and batches, voids."""
    with login_client(app, Role.BILLING, username="biller-7") as client:
        yield client


@pytest.fixture
def billed(engine: Engine, settings: Settings, actor: Actor) -> list[str]:
    register_hai(engine, actor)
    return [row.event_id for row in bill_refill(engine, settings, actor, billed_body()).rows]


def test_charges_are_listed_and_filtered(client: TestClient, billed: list[str]) -> None:
    page = client.get("/charges").json()
    assert page["next_cursor"] is None
    views = page["items"]
    assert [v["event_id"] for v in views] == billed
    assert views[1]["modifiers"] == ["JZ", "KD"]
    assert views[0]["expected_allowable_usd"] == 125.25
    billable = client.get("/charges", params={"status": "billable", "delivery": "pending"}).json()["items"]
    assert [v["code"] for v in billable] == ["96522", "J9200"]
    assert client.get("/charges", params={"visit": "other"}).json()["items"] == []
    later = (T0 + timedelta(days=1)).isoformat()
    assert client.get("/charges", params={"recorded_since": later}).json()["items"] == []
    assert client.get("/charges", params={"status": "paid"}).status_code == 422
    assert client.get("/charges", params={"recorded_since": "2026-11-02T09:00:00"}).status_code == 422  # naive


def test_exports_parse(client: TestClient, billed: list[str]) -> None:
    fhir = client.get("/charges/export")
    assert fhir.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(fhir.json())
    assert [entry.resource.id for entry in bundle.entry or [] if isinstance(entry.resource, ChargeItem)] == billed

    hl7 = client.get("/charges/export", params={"format": "hl7"})
    message = parse_message(hl7.text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert len(message.dft_p03_financial) == 2  # the billable lines

    table = client.get("/charges/export", params={"format": "csv", "status": "not-billable"})
    assert table.headers["content-type"].startswith("text/csv")
    assert [row["code"] for row in csv.DictReader(io.StringIO(table.text))] == ["A4216", "A4220"]

    assert client.get("/charges/export", params={"format": "x12"}).status_code == 422


def test_void_once_then_conflict(client: TestClient, billed: list[str], clock: FixedClock) -> None:
    clock.set(T0 + timedelta(hours=2))
    response = client.post(f"/charges/{billed[0]}/void", json={"reason": "entered twice"})
    assert response.status_code == 201, response.text
    void = response.json()
    assert (void["kind"], void["status"], void["original_event_id"]) == ("void", "entered-in-error", billed[0])
    assert (void["created_by"], void["created_at"]) == ("biller-7", "2026-11-02T11:00:00Z")
    again = client.post(f"/charges/{billed[0]}/void", json={"reason": "again"})
    assert again.status_code == 409
    assert client.post("/charges/nope/void", json={"reason": "x"}).status_code == 404
    assert client.post(f"/charges/{billed[1]}/void", json={"reason": ""}).status_code == 422
    assert TestClient(client.app).post(f"/charges/{billed[1]}/void", json={"reason": "x"}).status_code == 401
    assert len(client.get("/charges").json()["items"]) == 5
