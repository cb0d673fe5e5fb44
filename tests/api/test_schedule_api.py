from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.settings import Settings
from tests.support import T0, FixedClock, fudr_refill

NURSE = {"X-Actor": "nurse-7"}


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock, engine=engine)) as client:
        client.post("/patients", json={"patient_ref": "P-1", "body_mass_kg": "70 kg"}, headers=NURSE)
        pump = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
        assert client.post("/pumps", json=pump, headers=NURSE).status_code == 201
        assert client.post("/pumps/HAI-1/refills", json=fudr_refill(T0), headers=NURSE).status_code == 201
        yield client


def test_the_schedule_shows_the_booked_refill(client: TestClient) -> None:
    [view] = client.get("/schedule", params={"days": 30}).json()["items"]
    assert view["pump_serial"] == "HAI-1"
    assert view["status"] == "booked"
    assert view["local_day"] == "2026-11-16"
    assert view["due_reason"] == "protocol_interval"


def test_the_ical_feed_parses_with_the_clinic_zone(client: TestClient) -> None:
    response = client.get("/schedule.ics")
    assert response.headers["content-type"].startswith("text/calendar")
    feed = Calendar.from_ical(response.content)
    [event] = feed.walk("VEVENT")
    start = event.decoded("dtstart")
    assert str(start.tzinfo) == "America/New_York"
    assert start.hour == 8
    assert "HAI-1" in str(event["summary"])
    assert feed.walk("VTIMEZONE")


def test_cancel_and_no_show_rebook_and_escalations_can_be_acknowledged(client: TestClient, clock: FixedClock) -> None:
    [view] = client.get("/schedule", params={"days": 30}).json()["items"]
    clock.set(T0 + timedelta(days=14, hours=8))  # after the appointment
    no_show = {"reason": "did not come", "no_show": True}
    response = client.post(f"/appointments/{view['appointment_id']}/cancel", json=no_show, headers=NURSE)
    assert response.status_code == 200, response.text
    assert response.json()["appointment_id"] != view["appointment_id"]
    [escalation] = client.get("/notifications").json()["items"]
    assert escalation["kind"] == "no_show"
    ack = client.post(f"/notifications/{escalation['notification_id']}/ack", headers=NURSE)
    assert ack.json()["status"] == "acknowledged"
    assert client.get("/notifications").json()["items"] == []
    again = client.post(f"/appointments/{view['appointment_id']}/cancel", json={"reason": "x"}, headers=NURSE)
    assert again.status_code == 409


def test_a_holiday_moves_the_booking_earlier(client: TestClient) -> None:
    response = client.post("/clinics/main/holidays", json={"day": "2026-11-16", "name": "training"}, headers=NURSE)
    assert response.status_code == 201, response.text
    [moved] = response.json()
    assert moved["local_day"] == "2026-11-13"
    unknown = client.post("/clinics/nope/holidays", json={"day": "2026-11-17", "name": "x"}, headers=NURSE)
    assert unknown.status_code == 404
    bad = client.post("/clinics/main/holidays", json={"day": "not a day", "name": "x"}, headers=NURSE)
    assert bad.status_code == 422
