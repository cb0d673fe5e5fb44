from collections.abc import Iterator
from datetime import timedelta
from typing import Any

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
    assert (
        client.post("/patients", json={"patient_ref": "P-1", "body_mass_kg": "70 kg"}, headers=NURSE).status_code == 201
    )
    response = client.post(
        "/pumps",
        json={"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"},
        headers=NURSE,
    )
    assert response.status_code == 201, response.text
    return "HAI-1"


def test_health_reports_the_schema_revision(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["schema_revision"] == body["expected_revision"]


def test_registered_pumps_are_listed(client: TestClient, hai: str) -> None:
    pumps = client.get("/pumps").json()["items"]
    assert [p["serial"] for p in pumps] == [hai]
    assert pumps[0]["patient_ref"] == "P-1"
    assert client.get(f"/pumps/{hai}").json()["capacity_ml"] == 30.0
    assert client.get("/pumps/NOPE").status_code == 404


def test_refill_round_trip_and_idempotent_retry(client: TestClient, hai: str, clock: FixedClock) -> None:
    assert client.post(f"/pumps/{hai}/refills", json=fudr_refill(T0), headers=NURSE).status_code == 201
    clock.set(T0 + timedelta(days=14, minutes=5))
    body = fudr_refill(T0 + timedelta(days=14), returned="19 mL", idempotency_key="visit-2-abcdef")
    first = client.post(f"/pumps/{hai}/refills", json=body, headers=NURSE)
    assert first.status_code == 201
    result = first.json()
    assert result["flow_class"] == "alert"
    assert result["deviation_pct"] == pytest.approx(-21.43, abs=0.01)
    retry = client.post(f"/pumps/{hai}/refills", json=body, headers=NURSE)
    assert retry.status_code == 200
    assert retry.json()["replayed"] is True
    assert retry.json()["refill_id"] == result["refill_id"]
    assert len(client.get(f"/pumps/{hai}/refills").json()["items"]) == 2
    due = client.get("/due", params={"within_days": 30}).json()["items"]
    assert [d["serial"] for d in due] == [hai]


def _refill(**changes: Any) -> dict[str, Any]:
    return {**fudr_refill(T0), **changes}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param(_refill(fill_volume_ml="5 mg"), ["body", "fill_volume_ml"], id="wrong dimension"),
        pytest.param(_refill(fill_volume_ml="-5 mL"), ["body", "fill_volume_ml"], id="negative volume"),
        pytest.param(_refill(fill_volume_ml="40 mL"), ["body", "fill_volume_ml"], id="above capacity"),
        pytest.param(_refill(performed_at="2026-11-02T09:00:00"), ["body", "performed_at"], id="naive datetime"),
        pytest.param(
            _refill(components=[{"drug_id": "aspirin"}]), ["body", "components", 0, "drug_id"], id="unknown drug"
        ),
        pytest.param(_refill(extra_field=1), ["body", "extra_field"], id="unknown field"),
        pytest.param(_refill(components=[]), ["body", "components"], id="no components"),
    ],
)
def test_bad_refills_get_422_naming_the_field_and_store_nothing(
    client: TestClient, hai: str, body: dict[str, Any], loc: list[Any]
) -> None:
    response = client.post(f"/pumps/{hai}/refills", json=body, headers=NURSE)
    assert response.status_code == 422, response.text
    assert next(e["loc"] for e in response.json()["errors"]) == loc
    assert client.get(f"/pumps/{hai}/refills").json()["items"] == []
    assert client.get(f"/pumps/{hai}").json()["version"] == 1


def test_malformed_json_is_a_400_problem_and_stores_nothing(client: TestClient, hai: str) -> None:
    response = client.post(
        f"/pumps/{hai}/refills", content=b"{not json", headers={**NURSE, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:pump-service:problem:malformed-body"
    assert response.json()["errors"][0]["loc"][0] == "body"
    assert client.get(f"/pumps/{hai}/refills").json()["items"] == []


def test_changes_need_an_actor(client: TestClient, hai: str) -> None:
    response = client.post(f"/pumps/{hai}/refills", json=fudr_refill(T0))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "x-actor"]
    bad_actor = client.post(f"/pumps/{hai}/refills", json=fudr_refill(T0), headers={"X-Actor": "Jane Doe"})
    assert bad_actor.status_code == 422


def test_duplicate_pump_serial_is_a_conflict(client: TestClient, hai: str) -> None:
    response = client.post(
        "/pumps", json={"serial": hai, "model_id": "hai-30", "route": "intra_arterial"}, headers=NURSE
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"serial": "X", "model_id": "nope", "route": "intra_arterial"}, id="unknown model"),
        pytest.param({"serial": "X", "model_id": "hai-30", "route": "intrathecal"}, id="route not on model"),
        pytest.param(
            {"serial": "X", "model_id": "hai-30", "route": "intra_arterial", "nominal_rate_ml_per_day": "9 mL/d"},
            id="rate out of range",
        ),
        pytest.param(
            {"serial": "X", "model_id": "hai-30", "route": "intra_arterial", "nominal_rate_ml_per_day": "1 mg"},
            id="rate wrong unit",
        ),
        pytest.param({"serial": "has space", "model_id": "hai-30", "route": "intra_arterial"}, id="bad serial"),
    ],
)
def test_bad_pump_registrations_are_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/pumps", json=body, headers=NURSE).status_code == 422
    assert client.get("/pumps").json()["items"] == []


def test_catalogues_are_served(client: TestClient) -> None:
    assert {m["model_id"] for m in client.get("/catalogue/pump-models").json()["items"]} >= {
        "hai-30",
        "programmable-20",
    }
    assert "floxuridine" in {d["drug_id"] for d in client.get("/catalogue/drugs").json()["items"]}


def test_openapi_documents_the_refill_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/pumps/{serial}/refills"]["post"]["responses"]
    assert {"200", "201", "404", "409", "422"} <= set(responses)
