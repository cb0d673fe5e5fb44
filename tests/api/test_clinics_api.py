"""Every clinic route: create, list, show, change (moving bookings), history, holidays, worklist, pumps."""

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
DESK = {"X-Actor": "desk-3", "X-Station": "front-desk"}
NORTH: dict[str, Any] = {
    "clinic_id": "north",
    "name": "North refill clinic",
    "timezone": "America/New_York",
    "opens_at": "08:00",
    "closes_at": "12:00",
    "capacity_per_day": 4,
    "jurisdiction": "JJ",
}


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock, engine=engine)) as client:
        client.post("/patients", json={"patient_ref": "P-1", "body_mass_kg": "70 kg"}, headers=NURSE)
        pump = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
        assert client.post("/pumps", json=pump, headers=NURSE).status_code == 201
        assert client.post("/pumps/HAI-1/refills", json=fudr_refill(T0), headers=NURSE).status_code == 201
        yield client


def _loc(response: Any) -> list[str]:
    return [".".join(str(p) for p in d["loc"]) for d in response.json()["errors"]]


def test_a_clinic_is_created_listed_shown_and_its_history_kept(client: TestClient) -> None:
    created = client.post("/clinics", json=NORTH, headers=DESK)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["jurisdiction"], body["slots_per_day"], body["working_days"]) == ("JJ", 8, [0, 1, 2, 3, 4])
    assert client.post("/clinics", json=NORTH, headers=DESK).status_code == 409
    assert [c["clinic_id"] for c in client.get("/clinics").json()["items"]] == ["main", "north"]
    assert client.get("/clinics/north").json() == body
    assert client.get("/clinics/nowhere").status_code == 404
    [entry] = client.get("/clinics/north/history").json()["items"]
    assert (entry["kind"], entry["changed_by"], entry["station_id"]) == ("created", "desk-3", "front-desk")
    assert client.get("/clinics/nowhere/history").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity_per_day": 0}, "body.capacity_per_day"),
        ({"capacity_per_day": -1}, "body.capacity_per_day"),
        ({"jurisdiction": "J99"}, "body.jurisdiction"),
        ({"opens_at": "13:00"}, "body.closes_at"),  # after closing: the merged hours are impossible
        ({"closes_at": "07:00"}, "body.closes_at"),
    ],
)
def test_bad_clinic_input_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    response = client.post("/clinics", json={**NORTH, **change}, headers=DESK)
    assert response.status_code == 422
    assert field in _loc(response)
    assert client.get("/clinics/north").status_code == 404
    client.post("/clinics", json=NORTH, headers=DESK)
    before = client.get("/clinics/north").json()
    response = client.patch("/clinics/north", json=change, headers=DESK)
    assert response.status_code == 422
    assert field in _loc(response)
    assert client.get("/clinics/north").json() == before
    assert len(client.get("/clinics/north/history").json()["items"]) == 1


def test_changing_hours_and_capacity_moves_the_bookings_that_no_longer_fit(client: TestClient) -> None:
    [view] = client.get("/schedule", params={"days": 30}).json()["items"]
    assert view["starts_at"] == "2026-11-16T13:00:00Z"  # 08:00 in New York
    response = client.patch("/clinics/main", json={"opens_at": "09:00", "capacity_per_day": 6}, headers=DESK)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["clinic"]["opens_at"], result["clinic"]["capacity_per_day"]) == ("09:00", 6)
    [moved] = result["moved"]
    assert moved["appointment_id"] != view["appointment_id"]  # 08:00 is no slot any more
    assert (moved["local_day"], moved["starts_at"]) == ("2026-11-16", "2026-11-16T14:00:00Z")  # the new first slot
    [change] = [c for c in client.get("/clinics/main/history").json()["items"] if c["kind"] == "changed"]
    assert change["before"] == {"opens_at": "08:00", "capacity_per_day": 16}
    assert client.patch("/clinics/nowhere", json={"capacity_per_day": 3}, headers=DESK).status_code == 404


def test_holidays_are_validated_listed_and_removed(client: TestClient) -> None:
    bad = {
        "2020-01-01": "in the past",
        "2990-12-31": "beyond",
        "9999-12-31": "between 1900 and 2999",
        "2026-11-21": "Saturday",
    }
    for day, message in bad.items():
        response = client.post("/clinics/main/holidays", json={"day": day, "name": "x"}, headers=DESK)
        assert response.status_code == 422, day
        assert _loc(response) == ["body.day"]
        assert message in response.json()["errors"][0]["msg"]
    assert client.get("/clinics/main/holidays").json()["items"] == []
    response = client.post("/clinics/main/holidays", json={"day": "2026-11-26", "name": "Thanksgiving"}, headers=DESK)
    assert response.status_code == 201
    [holiday] = client.get("/clinics/main/holidays").json()["items"]
    assert (holiday["day"], holiday["name"], holiday["created_by"]) == ("2026-11-26", "Thanksgiving", "desk-3")
    assert client.delete("/clinics/main/holidays/2026-11-26", headers=DESK).status_code == 204
    assert client.get("/clinics/main/holidays").json()["items"] == []
    assert client.delete("/clinics/main/holidays/2026-11-26", headers=DESK).status_code == 404
    assert client.get("/clinics/nowhere/holidays").status_code == 404


def test_no_show_before_the_start_is_409_and_a_patient_cancellation_moves_to_another_day(client: TestClient) -> None:
    [view] = client.get("/schedule", params={"days": 30}).json()["items"]
    url = f"/appointments/{view['appointment_id']}/cancel"
    early = client.post(url, json={"reason": "did not come", "no_show": True}, headers=DESK)
    assert early.status_code == 409
    assert "once it has started" in early.json()["detail"]
    moved = client.post(url, json={"reason": "patient request", "patient_request": True}, headers=DESK)
    assert moved.status_code == 200
    assert moved.json()["local_day"] != view["local_day"]
    assert client.post("/appointments/999/cancel", json={"reason": "x"}, headers=DESK).status_code == 404


def test_the_worklist_shows_overdue_visits_and_no_shows(client: TestClient, clock: FixedClock) -> None:
    assert client.get("/clinics/main/worklist").json()["items"] == []
    [view] = client.get("/schedule", params={"days": 30}).json()["items"]
    clock.set(T0 + timedelta(days=15))  # a day after the appointment, nothing recorded
    [item] = client.get("/clinics/main/worklist").json()["items"]
    assert (item["kind"], item["pump_serial"], item["appointment_id"]) == ("overdue", "HAI-1", view["appointment_id"])
    url = f"/appointments/{view['appointment_id']}/cancel"
    rebooked = client.post(url, json={"reason": "did not come", "no_show": True}, headers=DESK).json()
    [item] = client.get("/clinics/main/worklist").json()["items"]
    assert (item["kind"], item["rebooked_at"]) == ("no_show", rebooked["starts_at"])
    assert client.get("/clinics/nowhere/worklist").status_code == 404


def test_a_pump_moves_to_another_clinic_with_its_booking(client: TestClient) -> None:
    client.post("/clinics", json=NORTH, headers=DESK)
    response = client.put("/clinics/north/pumps/HAI-1", headers=DESK)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["clinic_id"], body["appointment"]["clinic_id"]) == ("north", "north")
    assert client.get("/schedule", params={"days": 30}).json()["items"] == []
    assert len(client.get("/schedule", params={"days": 30, "clinic": "north"}).json()["items"]) == 1
    assert client.put("/clinics/north/pumps/NOPE", headers=DESK).status_code == 404
    assert client.put("/clinics/nowhere/pumps/HAI-1", headers=DESK).status_code == 404
