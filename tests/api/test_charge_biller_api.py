"""Charges a biller can work with, over HTTP (issue 10, item 5; observations 5 and 6) and clinic billing."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from tests.charge_support import bill_refill, billed_body, palmetto_setup, register_hai
from tests.support import T0, FixedClock

NURSE = {"X-Actor": "nurse-7"}
DAY = "2026-11-02"


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock, engine=engine)) as client:
        yield client


@pytest.fixture
def billed(engine: Engine, settings: Settings, actor: Actor) -> list[str]:
    """Two patients billed on 2 Nov (medicare and commercial), the first again on 16 Nov."""
    register_hai(engine, actor)
    register_hai(engine, actor, serial="HAI-2", patient_ref="P-2")
    ids = [r.event_id for r in bill_refill(engine, settings, actor, billed_body()).rows]
    other = billed_body(payer_profile="commercial_example")
    ids += [r.event_id for r in bill_refill(engine, settings, actor, other, serial="HAI-2").rows]
    later = billed_body(T0 + timedelta(days=14)) | {"returned_volume_ml": "16 mL"}
    ids += [r.event_id for r in bill_refill(engine, settings, actor, later).rows]
    return ids


def _items(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/charges", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_observation_5_a_voided_charge_shows_voided_links_both_ways_and_leaves_billable(
    client: TestClient, billed: list[str]
) -> None:
    void = client.post(f"/charges/{billed[0]}/void", json={"reason": "entered twice"}, headers=NURSE).json()
    [original] = [v for v in _items(client) if v["event_id"] == billed[0]]
    assert (original["status"], original["billing_status"]) == ("voided", "billable")
    assert original["voided_by_event_id"] == void["event_id"]
    assert void["original_event_id"] == billed[0]
    assert billed[0] not in {v["event_id"] for v in _items(client, status="billable")}
    assert [v["event_id"] for v in _items(client, status="voided")] == [billed[0]]
    assert [v["event_id"] for v in _items(client, status="entered-in-error")] == [void["event_id"]]


def test_observation_6_since_is_the_date_of_service(client: TestClient, billed: list[str], clock: FixedClock) -> None:
    # Everything was recorded "now" (the test clock), but the visits were on 2 and 16 November.
    assert {v["service_date"] for v in _items(client, since="2026-11-10")} == {"2026-11-16"}
    assert {v["service_date"] for v in _items(client, until=DAY)} == {DAY}
    assert _items(client, since="2026-11-03", until="2026-11-15") == []
    assert len(_items(client, recorded_since=(T0 - timedelta(days=1)).isoformat())) == len(billed)


def test_filters_by_payer_and_clinic(client: TestClient, billed: list[str]) -> None:
    assert {v["payer_profile"] for v in _items(client, payer="commercial_example")} == {"commercial_example"}
    assert {v["clinic"] for v in _items(client, clinic="main")} == {"main"}
    assert len(_items(client, clinic="main")) == len(billed)
    assert client.get("/charges", params={"clinic": "nowhere"}).status_code == 404
    assert client.get("/charges", params={"payer": "Not A Profile"}).status_code == 422
    assert client.get("/charges", params={"sinse": DAY}).status_code == 422  # a misspelt filter is refused


def test_observation_6_cursor_pages_cover_every_row_once(client: TestClient, billed: list[str]) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/charges", params=params).json()
        assert len(page["items"]) <= 3
        seen += [v["event_id"] for v in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == billed
    assert pages == -(-len(billed) // 3)
    assert client.get("/charges", params={"limit": 0}).status_code == 422
    assert client.get("/charges", params={"limit": 501}).status_code == 422
    bad = client.get("/charges", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "cursor"]  # where the cursor really is


def test_daily_batch_totals_by_payer(client: TestClient, billed: list[str]) -> None:
    client.post(f"/charges/{billed[0]}/void", json={"reason": "entered twice"}, headers=NURSE)
    response = client.get("/charges/batches", params={"clinic": "main", "date": DAY})
    assert response.status_code == 200, response.text
    batch = response.json()
    assert (batch["clinic"], batch["service_date"], batch["visits"]) == ("main", DAY, 2)
    totals = {t["payer_profile"]: t for t in batch["totals"]}
    assert set(totals) == {"commercial_example", "medicare"}
    assert (totals["medicare"]["lines"], totals["medicare"]["units"]) == (1, 1)  # J9200; 96522 was voided
    assert totals["commercial_example"]["lines"] == 3  # 96522, J9200 and the kit (billable under it)
    assert batch["billable_lines"] == sum(t["lines"] for t in batch["totals"])
    assert batch["units"] == sum(t["units"] for t in batch["totals"])
    assert {v["service_date"] for v in batch["items"]} == {DAY}
    paged = client.get("/charges/batches", params={"clinic": "main", "date": DAY, "limit": 2}).json()
    assert len(paged["items"]) == 2
    assert paged["next_cursor"] is not None
    assert client.get("/charges/batches", params={"clinic": "nowhere", "date": DAY}).status_code == 404
    assert client.get("/charges/batches", params={"clinic": "main", "date": "2 Nov"}).status_code == 422


def test_observation_6_export_of_an_unknown_visit_is_not_found(client: TestClient, billed: list[str]) -> None:
    response = client.get("/charges/export", params={"visit": "UNKNOWN", "format": "csv"})
    assert response.status_code == 404
    assert "UNKNOWN" in response.json()["detail"]


@pytest.fixture
def clinic(engine: Engine, settings: Settings, actor: Actor) -> str:
    with transaction(engine) as session:
        return default_clinic(session, settings, now=T0, actor=actor).clinic_id


def test_clinic_billing_versions_over_http(client: TestClient, clinic: str) -> None:
    assert client.get(f"/clinics/{clinic}/billing").json()["items"] == []
    created = client.post(f"/clinics/{clinic}/billing", json=palmetto_setup(), headers=NURSE)
    assert created.status_code == 201, created.text
    assert (created.json()["version"], created.json()["created_by"]) == (1, "nurse-7")
    client.post(f"/clinics/{clinic}/billing", json=palmetto_setup(note="second"), headers=NURSE)
    assert [v["version"] for v in client.get(f"/clinics/{clinic}/billing").json()["items"]] == [1, 2]
    assert client.get("/clinics/nowhere/billing").status_code == 404
    assert client.post("/clinics/nowhere/billing", json=palmetto_setup(), headers=NURSE).status_code == 404
    assert client.post(f"/clinics/{clinic}/billing", json=palmetto_setup()).status_code == 422  # no X-Actor


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"jurisdiction": "JX"}, ["body", "jurisdiction"]),
        ({"payer_profile": "no_such_payer"}, ["body", "payer_profile"]),
        ({"jurisdiction": "JE"}, ["body", "profiles", "medicare_palmetto", "regional_dx"]),
        ({"profiles": {"medicare_palmetto": {"name": "x"}}}, ["body", "profiles", "medicare_palmetto"]),
    ],
)
def test_a_bad_clinic_setup_is_422_naming_the_field_and_nothing_changes(
    client: TestClient, clinic: str, changes: dict[str, Any], loc: list[str]
) -> None:
    response = client.post(f"/clinics/{clinic}/billing", json=palmetto_setup(**changes), headers=NURSE)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == loc
    assert client.get(f"/clinics/{clinic}/billing").json()["items"] == []


def test_a_refill_naming_an_unknown_payer_profile_is_422_and_records_nothing(
    client: TestClient, engine: Engine, actor: Actor
) -> None:
    serial = register_hai(engine, actor)
    body = billed_body(payer_profile="no_such_payer")
    response = client.post(f"/pumps/{serial}/refills", json=body, headers=NURSE)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "billing", "payer_profile"]
    assert client.get(f"/pumps/{serial}/refills").json()["items"] == []
    assert _items(client) == []
