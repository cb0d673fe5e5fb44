"""``GET /notifications/{id}/deliveries``: the delivery log of one notification."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.persistence.db import transaction
from pump_service.services.scheduling.channels import WebhookChannel
from pump_service.services.scheduling.delivery import dispatch_notifications
from pump_service.settings import Settings
from tests.charge_support import Receiver
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


def test_a_notifications_deliveries_are_listed_and_an_unknown_one_is_404(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    [view] = client.get("/schedule", params={"days": 30}).json()["items"]
    clock.set(T0 + timedelta(days=14, hours=8))
    no_show = {"reason": "did not come", "no_show": True}
    assert client.post(f"/appointments/{view['appointment_id']}/cancel", json=no_show, headers=NURSE).status_code == 200
    [escalation] = client.get("/notifications").json()["items"]
    receiver = Receiver()
    try:
        with transaction(engine) as session:
            dispatch_notifications(session, [WebhookChannel(receiver.url)], now=clock.now())
    finally:
        receiver.close()

    response = client.get(f"/notifications/{escalation['notification_id']}/deliveries")
    assert response.status_code == 200
    [delivery] = response.json()["items"]
    assert delivery["delivery_id"] > 0
    assert delivery["key"] == f"{escalation['notification_id']}:webhook"
    assert delivery["channel"] == "webhook"
    assert delivery["state"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["delivered_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert client.get("/notifications/999999/deliveries").status_code == 404
