"""``POST /pumps/{serial}/replacement`` and ``POST /pumps/{serial}/model`` over HTTP."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.settings import Settings
from tests.support import T0, FixedClock, fudr_refill

NURSE = {"X-Actor": "nurse-7"}


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock, engine=engine)) as client:
        yield client


@pytest.fixture
def hai(client: TestClient) -> str:
    assert client.post("/patients", json={"patient_ref": "P-1"}, headers=NURSE).status_code == 201
    pump = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
    assert client.post("/pumps", json=pump, headers=NURSE).status_code == 201
    return "HAI-1"


NEW = {"serial": "HAI-2", "model_id": "hai-30", "route": "intra_arterial", "reason": "pocket infection"}


def test_a_replacement_explants_links_and_refuses_the_old_pump(client: TestClient, hai: str, clock: FixedClock) -> None:
    assert client.post(f"/pumps/{hai}/refills", json=fudr_refill(T0), headers=NURSE).status_code == 201
    clock.advance(7 * 86_400)
    response = client.post(f"/pumps/{hai}/replacement", json=NEW, headers=NURSE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["explanted"]["state"], body["explanted"]["replaced_by_serial"]) == ("explanted", "HAI-2")
    assert (body["replacement"]["patient_ref"], body["replacement"]["replaces_serial"]) == ("P-1", hai)
    assert len(body["closed_appointments"]) == 1
    late = fudr_refill(T0 + timedelta(days=7), idempotency_key="after-explant-1")
    refused = client.post(f"/pumps/{hai}/refills", json=late, headers=NURSE)
    assert refused.status_code == 409
    assert "explanted" in refused.json()["detail"]
    assert "HAI-2" in refused.json()["detail"]
    assert [d["serial"] for d in client.get("/due", params={"within_days": 3660}).json()["items"]] == []
    assert len(client.get(f"/pumps/{hai}/refills").json()["items"]) == 1  # the history stays readable
    assert client.get(f"/pumps/{hai}").json()["state"] == "explanted"
    assert client.post(f"/pumps/{hai}/replacement", json={**NEW, "serial": "HAI-3"}, headers=NURSE).status_code == 409


def test_replacement_errors(client: TestClient, hai: str) -> None:
    assert client.post("/pumps/NOPE/replacement", json=NEW, headers=NURSE).status_code == 404
    assert client.post(f"/pumps/{hai}/replacement", json={**NEW, "serail": "x"}, headers=NURSE).status_code == 422
    wrong_route = {**NEW, "route": "intrathecal"}  # an HAI pump is intra-arterial only
    assert client.post(f"/pumps/{hai}/replacement", json=wrong_route, headers=NURSE).status_code == 422
    with_patient = {**NEW, "patient_ref": "P-1"}
    assert client.post(f"/pumps/{hai}/replacement", json=with_patient, headers=NURSE).status_code == 422
    assert client.get(f"/pumps/{hai}").json()["state"] == "active"


def test_a_model_correction_stays_in_the_family(client: TestClient, hai: str) -> None:
    other_family = client.post(
        f"/pumps/{hai}/model", json={"model_id": "programmable-20", "reason": "typo"}, headers=NURSE
    )
    assert other_family.status_code == 422
    assert "another family" in other_family.json()["errors"][0]["msg"]
    assert (
        client.post("/pumps/NOPE/model", json={"model_id": "cf-50", "reason": "typo"}, headers=NURSE).status_code == 404
    )
    response = client.post(f"/pumps/{hai}/model", json={"model_id": "cf-50", "reason": "typo"}, headers=NURSE)
    assert response.status_code == 200, response.text
    assert (response.json()["model_id"], response.json()["capacity_ml"]) == ("cf-50", 50.0)
