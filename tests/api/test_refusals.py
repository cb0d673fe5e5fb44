"""The API refuses what it must, always as ``application/problem+json`` naming where the bad value is.

Malformed JSON, unknown routes and methods, oversize bodies (declared or streamed), NaN and
Infinity, numbers and times that would overflow, ids beyond 64 bits, over-long lists: each a
clear 4xx problem, and nothing stored.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.api.body_limit import DEFAULT_MAX_BODY_BYTES
from pump_service.settings import Settings
from tests.support import T0, FixedClock, fudr_refill

NURSE = {"X-Actor": "nurse-7"}
JSON = {**NURSE, "Content-Type": "application/json"}
PROBLEM = "application/problem+json"


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock, engine=engine)) as client:
        yield client


@pytest.fixture
def hai(client: TestClient) -> str:
    assert client.post("/patients", json={"patient_ref": "P-1", "body_mass_kg": "70 kg"}, headers=NURSE).is_success
    body = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
    assert client.post("/pumps", json=body, headers=NURSE).status_code == 201
    return "HAI-1"


def _problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:pump-service:problem:{kind}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def _refills(client: TestClient, serial: str) -> list[Any]:
    items: list[Any] = client.get(f"/pumps/{serial}/refills").json()["items"]
    return items


def test_an_unknown_route_is_a_404_problem(client: TestClient) -> None:
    _problem(client.get("/no/such/route"), 404, "not-found")


def test_a_wrong_method_is_a_405_problem_listing_every_allowed_method(client: TestClient) -> None:
    response = client.delete("/pumps")
    _problem(response, 405, "method-not-allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}  # two routes share the path


def test_an_unknown_pump_is_a_404_problem(client: TestClient) -> None:
    _problem(client.get("/pumps/NOPE"), 404, "not-found")
    _problem(client.post("/pumps/NOPE/refills", json=fudr_refill(T0), headers=NURSE), 404, "not-found")


def test_a_conflict_is_a_409_problem(client: TestClient, hai: str) -> None:
    body = {"serial": hai, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
    _problem(client.post("/pumps", json=body, headers=NURSE), 409, "conflict")


def test_a_rule_violation_names_the_body_field(client: TestClient, hai: str) -> None:
    body = _problem(
        client.post(f"/pumps/{hai}/refills", json={**fudr_refill(T0), "fill_volume_ml": "40 mL"}, headers=NURSE),
        422,
        "rule-violation",
    )
    assert body["errors"][0]["loc"] == ["body", "fill_volume_ml"]
    assert _refills(client, hai) == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param(b'"fill_volume_ml": NaN', "fill_volume_ml", id="NaN"),
        pytest.param(b'"fill_volume_ml": Infinity', "fill_volume_ml", id="Infinity"),
        pytest.param(b'"returned_volume_ml": -Infinity', "returned_volume_ml", id="-Infinity"),
        pytest.param(b'"fill_volume_ml": 1e400', "fill_volume_ml", id="1e400 overflows to infinity"),
    ],
)
def test_non_finite_json_numbers_are_422_naming_the_field(client: TestClient, hai: str, raw: bytes, field: str) -> None:
    refill = {k: v for k, v in fudr_refill(T0).items() if k != field}
    content = json.dumps(refill).encode()[:-1] + b", " + raw + b"}"
    body = _problem(client.post(f"/pumps/{hai}/refills", content=content, headers=JSON), 422, "validation")
    assert ["body", field] in [e["loc"] for e in body["errors"]]
    assert _refills(client, hai) == []


def test_a_non_finite_number_in_a_free_form_field_is_refused_too(client: TestClient) -> None:
    # ClinicBillingEntry.profiles is dict[str, Any]: pydantic alone would keep the NaN.
    content = b'{"effective_from": "2026-12-01", "profiles": {"mine": {"rate": NaN}}}'
    body = _problem(client.post("/clinics/main/billing", content=content, headers=JSON), 422, "validation")
    assert body["errors"][0]["loc"] == ["body", "profiles", "mine", "rate"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"fill_volume_ml": "nan mL"}, "fill_volume_ml", id="nan as a quantity"),
        pytest.param({"fill_volume_ml": "1e400 mL"}, "fill_volume_ml", id="overflowing quantity"),
        pytest.param({"fill_volume_ml": 10**400}, "fill_volume_ml", id="an integer beyond float range"),
        pytest.param({"fill_volume_ml": "20 furlongs"}, "fill_volume_ml", id="unknown unit"),
        pytest.param({"fill_volume_ml": "20 mg"}, "fill_volume_ml", id="wrong dimension"),
        pytest.param({"performed_at": "9999-12-31T23:59:59-14:00"}, "performed_at", id="after the last UTC instant"),
        pytest.param({"performed_at": "0001-01-01T00:00:00+14:00"}, "performed_at", id="before the first UTC instant"),
        pytest.param({"performed_at": "9999-12-31T00:00:00Z"}, "performed_at", id="too far ahead to compute with"),
        pytest.param({"performed_at": 0}, "performed_at", id="a Unix timestamp"),
        pytest.param({"components": [{"drug_id": "floxuridine"}] * 21}, "components", id="21 components"),
        pytest.param({"idempotency_key": "k" * 100_000}, "idempotency_key", id="an absurdly long string"),
    ],
)
def test_values_that_would_break_a_computation_are_422_naming_the_field(
    client: TestClient, hai: str, change: dict[str, Any], field: str
) -> None:
    refill = {**fudr_refill(T0), **change}
    response = client.post(f"/pumps/{hai}/refills", content=json.dumps(refill).encode(), headers=JSON)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in [e["loc"][1] for e in response.json()["errors"] if e["loc"][0] == "body"]
    assert _refills(client, hai) == []


@pytest.mark.parametrize(
    ("path", "location"),
    [
        pytest.param("/appointments/99999999999999999999999/cancel", "path", id="path id beyond 64 bits"),
        pytest.param("/notifications/9223372036854775808/ack", "path", id="2**63"),
        pytest.param("/notifications/0/ack", "path", id="zero"),
    ],
)
def test_ids_beyond_64_bits_are_422_in_the_path(client: TestClient, path: str, location: str) -> None:
    body = _problem(client.post(path, json={"reason": "x"}, headers=NURSE), 422, "validation")
    assert body["errors"][0]["loc"][0] == location


def test_a_bad_query_value_names_the_query(client: TestClient) -> None:
    body = _problem(client.get("/pumps", params={"limit": 10**30}), 422, "validation")
    assert body["errors"][0]["loc"] == ["query", "limit"]
    body = _problem(client.get("/charges", params={"until": "0"}), 422, "validation")
    assert body["errors"][0]["loc"] == ["query", "until"]


def test_a_missing_header_names_the_header(client: TestClient, hai: str) -> None:
    body = _problem(client.post(f"/pumps/{hai}/refills", json=fudr_refill(T0)), 422, "validation")
    assert body["errors"][0]["loc"] == ["header", "x-actor"]


def test_a_declared_oversize_body_is_413_before_it_is_read(client: TestClient, hai: str) -> None:
    content = b" " * (DEFAULT_MAX_BODY_BYTES + 1)
    _problem(client.post(f"/pumps/{hai}/refills", content=content, headers=JSON), 413, "body-too-large")
    assert _refills(client, hai) == []


def test_a_streamed_oversize_body_is_counted_and_413(client: TestClient, hai: str) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(40):
            sent.append(1)
            yield b" " * 65536

    response = client.post(f"/pumps/{hai}/refills", content=chunks(), headers=JSON)
    _problem(response, 413, "body-too-large")
    assert _refills(client, hai) == []


def test_a_body_just_under_the_cap_is_read(client: TestClient, hai: str) -> None:
    refill = json.dumps(fudr_refill(T0)).encode()
    padded = refill + b" " * (DEFAULT_MAX_BODY_BYTES - len(refill))
    assert client.post(f"/pumps/{hai}/refills", content=padded, headers=JSON).status_code == 201


def _walk(client: TestClient, path: str, key: str, limit: int, between: Any = None) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = client.get(path, params={"limit": limit} | ({"cursor": cursor} if cursor else {})).json()
        assert len(page["items"]) <= limit
        seen += [item[key] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            between()


def test_a_list_pages_by_keyset_each_item_once_even_with_inserts_between_pages(client: TestClient) -> None:
    assert client.post("/patients", json={"patient_ref": "P-1"}, headers=NURSE).is_success

    def register(serial: str) -> None:
        body = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
        assert client.post("/pumps", json=body, headers=NURSE).status_code == 201

    serials = [f"HAI-{i:02d}" for i in range(7)]
    for serial in serials:
        register(serial)
    inserted = iter(["HAI-00A", "HAI-00B"])  # sort before the page boundary: an OFFSET would repeat an item
    seen = _walk(client, "/pumps", "serial", 3, between=lambda: register(next(inserted)))
    assert seen == serials
    assert client.get("/pumps").json()["next_cursor"] is None  # the default page (50) holds them all
    assert len(client.get("/pumps").json()["items"]) == 9


def test_the_catalogues_page_too(client: TestClient) -> None:
    everything = [d["drug_id"] for d in client.get("/catalogue/drugs", params={"limit": 500}).json()["items"]]
    assert _walk(client, "/catalogue/drugs", "drug_id", 2) == everything == sorted(everything)


def test_a_cursor_of_another_list_is_refused_in_the_query(client: TestClient, hai: str) -> None:
    assert client.post("/patients", json={"patient_ref": "P-2"}, headers=NURSE).is_success
    body = {"serial": "HAI-2", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-2"}
    assert client.post("/pumps", json=body, headers=NURSE).status_code == 201
    cursor = client.get("/pumps", params={"limit": 1}).json()["next_cursor"]
    assert cursor is not None
    refused = _problem(client.get("/clinics", params={"cursor": cursor}), 422, "rule-violation")
    assert refused["errors"][0]["loc"] == ["query", "cursor"]
    _problem(client.get("/pumps", params={"limit": 501}), 422, "validation")
