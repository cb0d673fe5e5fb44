"""The visit routes beside refills: analyses, reprogrammings, flushes and abandoning a visit."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.services.actor import Actor
from pump_service.settings import Settings
from simulators.link_faults import LinkFaultPlan
from tests.services.test_visits import Station
from tests.support import T0

NURSE = {"X-Actor": "nurse-7"}
AT = T0.isoformat()


@pytest.fixture
def station(engine: Engine, settings: Settings, actor: Actor) -> Station:
    return Station(engine, settings, actor)


@pytest.fixture
def client(settings: Settings, engine: Engine, station: Station) -> Iterator[TestClient]:
    # the service and the simulated programmer share one virtual clock (link timeouts run on it)
    with TestClient(create_app(settings, clock=station.clock, engine=engine)) as client:
        yield client


@pytest.fixture
def hai(client: TestClient) -> str:
    assert client.post("/patients", json={"patient_ref": "P-1"}, headers=NURSE).status_code == 201
    body = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
    assert client.post("/pumps", json=body, headers=NURSE).status_code == 201
    return "HAI-1"


def _rx(rate: str) -> dict[str, Any]:
    return {"performed_at": AT, "prescription": {"mode": "continuous", "rate_ml_per_day": rate}}


def test_an_analysis_is_created_then_replayed(client: TestClient, station: Station) -> None:
    first = client.post(f"/pumps/SM-1/analyses?port={station.url}", json={"performed_at": AT}, headers=NURSE)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["kind"], body["state"], body["replayed"]) == ("analysis", "committed", False)
    assert [c["code"] for c in body["charges"]] == ["62367"]
    retry = client.post(f"/pumps/SM-1/analyses?port={station.url}", json={"performed_at": AT}, headers=NURSE)
    assert retry.status_code == 200
    assert retry.json()["replayed"] is True
    assert retry.json()["charges"] == body["charges"]


def test_an_analysis_of_an_unknown_or_constant_flow_pump(client: TestClient, station: Station, hai: str) -> None:
    assert client.post("/pumps/NOPE/analyses", json={"performed_at": AT}, headers=NURSE).status_code == 404
    refused = client.post(f"/pumps/{hai}/analyses?port={station.url}", json={"performed_at": AT}, headers=NURSE)
    assert refused.status_code == 422
    assert station.programmer.executed == []


def test_a_reprogramming_is_written_once_and_a_reused_key_is_409(client: TestClient, station: Station) -> None:
    body = {**_rx("0.6 mL/d"), "idempotency_key": "reprogram-api-1"}
    first = client.post(f"/pumps/SM-1/reprogrammings?port={station.url}", json=body, headers=NURSE)
    assert first.status_code == 201, first.text
    assert [c["code"] for c in first.json()["charges"]] == ["62368"]
    assert first.json()["prescription"]["rate_ml_per_day"] == pytest.approx(0.6)
    assert client.post(f"/pumps/SM-1/reprogrammings?port={station.url}", json=body, headers=NURSE).status_code == 200
    other = {**_rx("0.7 mL/d"), "idempotency_key": "reprogram-api-1"}
    assert client.post(f"/pumps/SM-1/reprogrammings?port={station.url}", json=other, headers=NURSE).status_code == 409
    assert [c for c, _ in station.programmer.executed] == ["RX_WRITE"]


def test_a_reprogramming_above_the_label_maximum_is_a_422_hard_stop(client: TestClient, station: Station) -> None:
    response = client.post(f"/pumps/SM-1/reprogrammings?port={station.url}", json=_rx("1.5 mL/d"), headers=NURSE)
    assert response.status_code == 422
    assert "dose_above_label_max" in response.text
    assert station.programmer.executed == []


def test_a_reprogramming_with_an_unknown_outcome_is_503_then_reconciled(client: TestClient, station: Station) -> None:
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    url = f"/pumps/SM-1/reprogrammings?port={station.url}"
    assert client.post(url, json=_rx("0.6 mL/d"), headers=NURSE).status_code == 503
    station.programmer.faults = LinkFaultPlan()
    retry = client.post(url, json=_rx("0.6 mL/d"), headers=NURSE)
    assert retry.status_code == 201
    assert [c for c, _ in station.programmer.executed] == ["RX_WRITE"]


def test_a_flush_is_created_then_replayed(client: TestClient, hai: str) -> None:
    body = {
        "performed_at": AT,
        "site": "catheter_access_port",
        "injected": [{"drug_id": "heparin", "volume_ml": "5 mL", "conc_usp_u_per_ml": "100 U/mL"}],
    }
    first = client.post(f"/pumps/{hai}/flushes", json=body, headers=NURSE)
    assert first.status_code == 201, first.text
    assert [c["code"] for c in first.json()["charges"]] == ["96523", "J1644"]
    assert first.json()["injected"][0]["amount_usp_u"] == pytest.approx(500.0)
    assert client.post(f"/pumps/{hai}/flushes", json=body, headers=NURSE).status_code == 200
    assert client.post("/pumps/NOPE/flushes", json=body, headers=NURSE).status_code == 404
    bad = {**body, "injected": [{"drug_id": "floxuridine", "volume_ml": 5}]}
    refused = client.post(f"/pumps/{hai}/flushes", json=bad, headers=NURSE)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "injected", "0", "drug_id"]


def test_abandoning_a_visit(client: TestClient, hai: str) -> None:
    body = {"pump_serial": hai, "kind": "refill", "performed_at": AT, "reason": "no needle access today"}
    first = client.post("/visits/visit-abandon-1/abandon", json=body, headers=NURSE)
    assert first.status_code == 201, first.text
    assert (first.json()["state"], first.json()["abandon_reason"], first.json()["charges"]) == (
        "abandoned",
        "no needle access today",
        [],
    )
    assert client.post("/visits/visit-abandon-1/abandon", json=body, headers=NURSE).status_code == 200
    other = {**body, "reason": "patient did not come"}
    assert client.post("/visits/visit-abandon-1/abandon", json=other, headers=NURSE).status_code == 409
    assert (
        client.post("/visits/visit-abandon-2/abandon", json={**body, "pump_serial": "NOPE"}, headers=NURSE).status_code
        == 404
    )
    assert client.post("/visits/bad/abandon", json=body, headers=NURSE).status_code == 422


def test_openapi_documents_the_visit_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/pumps/{serial}/analyses", "/pumps/{serial}/reprogrammings", "/pumps/{serial}/flushes"):
        assert {"200", "201", "404", "409", "422"} <= set(paths[path]["post"]["responses"])
    assert {"200", "201", "404", "409"} <= set(paths["/visits/{visit_key}/abandon"]["post"]["responses"])
    assert "/pumps/{serial}/refills" in paths  # the refill route is unchanged
