"""``pump-service notifications deliveries``: the delivery log from the command line."""

import json
from datetime import timedelta

from sqlmodel import select

from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.schedule_models import Notification
from pump_service.services.scheduling.channels import WebhookChannel
from pump_service.services.scheduling.delivery import dispatch_notifications
from schemas.clock import SystemClock
from tests.charge_support import Receiver
from tests.cli.test_cli import db, invoke

__all__ = ["db"]


def test_the_delivery_log_is_listed_per_notification_and_as_json(db: str) -> None:
    assert invoke("patients", "add", "P-1", "--body-mass", "70 kg")[0] == 0
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1")[0] == 0
    # Filled 15 days ago: due yesterday, so the booking is late and escalated (one notification).
    filled = (SystemClock().now() - timedelta(days=15)).replace(microsecond=0).isoformat()
    code, _, err = invoke("refill", "record", "HAI-1", "--returned", "0 mL", "--fill", "30 mL", "-c",
                          "floxuridine:dose=0.12 mg/kg/d", "-c", "saline", "--at", filled)  # fmt: skip
    assert code == 0, err
    assert invoke("notifications", "deliveries") == (0, "no deliveries\n", "")
    engine = make_engine(db)
    receiver = Receiver()
    receiver.statuses.append(503)
    try:
        with transaction(engine) as session:
            [notification] = session.exec(select(Notification)).all()
            dispatch_notifications(session, [WebhookChannel(receiver.url)], now=notification.created_at)
    finally:
        receiver.close()
        engine.dispose()

    code, out, _ = invoke("notifications", "deliveries", str(notification.id))
    assert code == 0
    assert f"{notification.id:>6} webhook  pending    attempts 1" in out
    assert "(HTTP 503)" in out
    code, out, _ = invoke("notifications", "deliveries", "--state", "pending", "--json")
    [row] = json.loads(out)
    assert (row["notification_id"], row["attempts"], row["last_error"]) == (notification.id, 1, "HTTP 503")
    retry = notification.created_at + timedelta(seconds=60)
    assert row["next_attempt_at"] <= retry.isoformat().replace("+00:00", "Z")
    assert invoke("notifications", "deliveries", "--state", "delivered") == (0, "no deliveries\n", "")
    code, _, err = invoke("notifications", "deliveries", "424242")
    assert (code, err.strip()) == (2, "error: no notification 424242")
