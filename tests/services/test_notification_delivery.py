"""Notifications that reach people: e-mail to a real local SMTP server, a webhook to a local receiver.

Each notification goes out once per channel across repeated ticks and after a failure and retry;
the backoff runs in virtual time; what goes out names the patient only by ``patient_ref``.
"""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine
from sqlmodel import select

from pump_service.persistence.db import transaction
from pump_service.persistence.models import Pump
from pump_service.persistence.notification_models import NotificationDelivery
from pump_service.persistence.schedule_models import Notification
from pump_service.scheduler import RefillScheduler, notification_dispatch_work
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.channels import EmailChannel, WebhookChannel, channels_from_settings
from pump_service.services.scheduling.delivery import (
    DEFAULT_RETRY,
    dispatch_notifications,
    list_deliveries,
    render_message,
)
from pump_service.services.scheduling.notifications import acknowledge, process_due
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from tests.charge_support import Receiver
from tests.notify_support import Logins, MailHandler, SmtpServer, self_signed_certificate, server_tls
from tests.support import T0, FixedClock, fudr_refill

APPOINTMENT = T0 + timedelta(days=14, hours=4)  # Mon 16 Nov 2026 08:00 America/New_York
DAY_BEFORE = APPOINTMENT - timedelta(hours=23)  # both reminders (7 d and 1 d) are due
SERIAL = "HAI-7731"
PATIENT = "PSEUDO-42"
DESK = "desk@clinic.example"
ONCALL = "oncall@clinic.example"


def _settings(tmp_path: Path, **channels: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/pump.db",
        station_id="test-station",
        clinic_tz="America/New_York",
        **channels,
    )


def _mail_settings(tmp_path: Path, server: SmtpServer, **extra: Any) -> Settings:
    routes = {"reminder": [DESK], "escalation": [ONCALL]}
    return _settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=server.port, smtp_from="pumps@clinic.example",
        notify_email_to=routes, **extra,
    )  # fmt: skip


def _booked(engine: Engine, settings: Settings, actor: Actor) -> None:
    """Patient PSEUDO-42 with an HAI pump refilled at T0: an appointment on 16 Nov."""
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref=PATIENT, body_mass_kg=70.0), actor=actor, now=T0)
        body = {"serial": SERIAL, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": PATIENT}
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
        entry = RefillEntry.model_validate(fudr_refill(T0))
        record_refill(session, SERIAL, entry, actor=actor, settings=settings, now=T0)


def _deliveries(engine: Engine) -> list[NotificationDelivery]:
    with transaction(engine) as session:
        return list(session.exec(select(NotificationDelivery).order_by(NotificationDelivery.id)).all())  # type: ignore[arg-type]


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    server = SmtpServer(MailHandler())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def test_email_reaches_the_smtp_server_once_per_notification_across_ticks(
    tmp_path: Path, engine: Engine, actor: Actor, mail: SmtpServer
) -> None:
    settings = _mail_settings(tmp_path, mail)
    _booked(engine, settings, actor)
    clock = FixedClock(DAY_BEFORE)
    scheduler = RefillScheduler(
        engine, settings, clock, extra_work=(notification_dispatch_work(engine, settings, clock),)
    )

    scheduler.tick()
    scheduler.tick()
    clock.advance(3600)
    scheduler.tick()

    received = mail.handler.received
    assert len(received) == 2  # the 7-day and the 1-day reminder, each once
    for item in received:
        assert item.mail_from == "pumps@clinic.example"
        assert item.rcpt_tos == [DESK]
        assert item.message["Subject"] == f"[pump-service] Refill reminder: patient {PATIENT}"
        body = item.message.get_content()
        assert f"Patient {PATIENT} has a refill appointment on Mon 16 Nov 2026 08:00 EST" in body
        assert SERIAL not in body
    assert len({item.message["Message-ID"] for item in received}) == 2

    clock.set(APPOINTMENT + timedelta(days=1))  # the appointment passed without a refill: escalation
    scheduler.tick()
    scheduler.tick()
    [escalation] = received[2:]
    assert escalation.rcpt_tos == [ONCALL]
    assert escalation.message["Subject"].startswith("[pump-service] ESCALATION: Missed refill")
    rows = _deliveries(engine)
    assert [(r.channel, r.state, r.attempts) for r in rows] == [("email", "delivered", 1)] * 3
    assert len({r.key for r in rows}) == 3


def test_a_refused_attempt_is_retried_after_the_backoff_in_virtual_time_and_sent_once(
    tmp_path: Path, engine: Engine, actor: Actor, mail: SmtpServer
) -> None:
    settings = _mail_settings(tmp_path, mail, reminder_days=[1])
    _booked(engine, settings, actor)
    mail.handler.data_replies.append("451 4.3.0 mailbox busy, try later")
    clock = FixedClock(DAY_BEFORE)
    work = notification_dispatch_work(engine, settings, clock)
    scheduler = RefillScheduler(engine, settings, clock, extra_work=(work,))

    scheduler.tick()
    [row] = _deliveries(engine)
    assert (row.state, row.attempts, row.delivered_at) == ("pending", 1, None)
    assert row.last_error is not None
    assert row.last_error.startswith("SMTP 451")
    retry_at = DEFAULT_RETRY.retry_at(row.key, 1, DAY_BEFORE)
    assert row.next_attempt_at == retry_at
    assert timedelta(seconds=48) <= retry_at - DAY_BEFORE <= timedelta(seconds=60)  # 60 s minus jitter

    clock.set(retry_at - timedelta(seconds=1))
    scheduler.tick()
    assert mail.handler.received == []  # not before its time
    clock.set(retry_at)
    scheduler.tick()
    clock.advance(600)
    scheduler.tick()
    scheduler.tick()

    assert len(mail.handler.received) == 1
    [row] = _deliveries(engine)
    assert (row.state, row.attempts, row.delivered_at, row.last_error) == ("delivered", 2, retry_at, None)


def test_a_server_that_is_down_is_retried_with_growing_delays(tmp_path: Path, engine: Engine, actor: Actor) -> None:
    server = SmtpServer(MailHandler())  # not started yet: the port refuses connections
    settings = _mail_settings(tmp_path, server, reminder_days=[1])
    _booked(engine, settings, actor)
    clock = FixedClock(DAY_BEFORE)
    work = notification_dispatch_work(engine, settings, clock)
    with transaction(engine) as session:
        process_due(session, settings=settings, now=clock.now())
    delays = []
    for _ in range(3):
        work()
        [row] = _deliveries(engine)
        assert row.next_attempt_at is not None
        assert row.last_error is not None
        assert "ConnectionRefusedError" in row.last_error
        delays.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
    assert delays == pytest.approx([DEFAULT_RETRY.delay_s(row.key, attempt) for attempt in (1, 2, 3)], abs=1e-5)
    assert 48 <= delays[0] <= 60
    assert 96 <= delays[1] <= 120
    assert 192 <= delays[2] <= 240
    server.start()
    try:
        assert work().counts == {"delivered": 1}
        assert work().counts == {}
    finally:
        server.stop()
    assert len(server.handler.received) == 1
    [row] = _deliveries(engine)
    assert (row.state, row.attempts) == ("delivered", 4)


def test_a_permanent_refusal_fails_without_retrying(tmp_path: Path, engine: Engine, actor: Actor) -> None:
    server = SmtpServer(MailHandler(refuse={DESK}))
    server.start()
    try:
        settings = _mail_settings(tmp_path, server, reminder_days=[1])
        _booked(engine, settings, actor)
        clock = FixedClock(DAY_BEFORE)
        scheduler = RefillScheduler(
            engine, settings, clock, extra_work=(notification_dispatch_work(engine, settings, clock),)
        )
        scheduler.tick()
        clock.advance(3 * 3600)
        scheduler.tick()
    finally:
        server.stop()
    [row] = _deliveries(engine)
    assert (row.state, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    assert row.last_error == f"recipients refused: {DESK} 550"
    assert server.handler.received == []


def test_smtp_login(tmp_path: Path, engine: Engine, actor: Actor) -> None:
    logins = Logins("station", "s3cret")
    server = SmtpServer(MailHandler(), authenticator=logins, auth_require_tls=False)
    server.start()
    try:
        settings = _mail_settings(tmp_path, server, reminder_days=[1], smtp_username="station", smtp_password="s3cret")  # noqa: S106
        [channel] = channels_from_settings(settings)
        assert "s3cret" not in repr(channel)
        assert "s3cret" not in repr(settings)
        _booked(engine, settings, actor)
        with transaction(engine) as session:
            process_due(session, settings=settings, now=DAY_BEFORE)
            report = dispatch_notifications(session, [channel], now=DAY_BEFORE)
    finally:
        server.stop()
    assert report.counts == {"created": 1, "delivered": 1}
    assert logins.seen == ["station"]
    assert len(server.handler.received) == 1


def test_starttls_verifies_the_server_certificate(tmp_path: Path, engine: Engine, actor: Actor) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = SmtpServer(MailHandler(), tls_context=server_tls(cert, key), require_starttls=True)
    server.start()
    try:
        untrusted = _mail_settings(tmp_path, server, reminder_days=[1], smtp_starttls=True)
        _booked(engine, untrusted, actor)
        clock = FixedClock(DAY_BEFORE)
        with transaction(engine) as session:
            process_due(session, settings=untrusted, now=clock.now())
        assert notification_dispatch_work(engine, untrusted, clock)().counts == {"created": 1, "pending": 1}
        [row] = _deliveries(engine)
        assert row.last_error is not None
        assert "SSLCertVerificationError" in row.last_error  # a server we cannot verify gets nothing
        assert row.next_attempt_at is not None
        clock.set(row.next_attempt_at)
        trusted = _mail_settings(tmp_path, server, reminder_days=[1], smtp_starttls=True, smtp_ca_file=cert)
        assert notification_dispatch_work(engine, trusted, clock)().counts == {"delivered": 1}
    finally:
        server.stop()
    [received] = server.handler.received
    assert received.rcpt_tos == [DESK]


def test_the_webhook_gets_json_once_after_a_failure_and_retry(
    tmp_path: Path, engine: Engine, actor: Actor, receiver: Receiver
) -> None:
    settings = _settings(tmp_path, notify_webhook_url=receiver.url, reminder_days=[1])
    _booked(engine, settings, actor)
    receiver.statuses.append(503)
    clock = FixedClock(DAY_BEFORE)
    scheduler = RefillScheduler(
        engine, settings, clock, extra_work=(notification_dispatch_work(engine, settings, clock),)
    )

    scheduler.tick()
    [row] = _deliveries(engine)
    assert (row.channel, row.state, row.last_error) == ("webhook", "pending", "HTTP 503")
    assert row.next_attempt_at is not None
    clock.set(row.next_attempt_at)
    scheduler.tick()
    scheduler.tick()

    assert len(receiver.bodies) == 2  # the refused attempt and the retry
    content_type, body = receiver.bodies[-1]
    assert content_type == "application/json"
    payload = json.loads(body)
    assert payload["delivery_key"] == row.key
    assert payload["kind"] == "reminder"
    assert payload["patient_ref"] == PATIENT
    assert payload["appointment_starts_at"] == APPOINTMENT.isoformat()
    assert SERIAL not in body.decode()
    [row] = _deliveries(engine)
    assert (row.state, row.attempts) == ("delivered", 2)


def test_every_kind_names_the_patient_only_by_the_pseudonymous_reference(
    tmp_path: Path, engine: Engine, actor: Actor
) -> None:
    settings = _settings(tmp_path)
    _booked(engine, settings, actor)
    with transaction(engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == SERIAL)).one()
        pump.battery_state = "ERI"
        pump.alarm_at = APPOINTMENT - timedelta(days=2)
        session.add(pump)
    with transaction(engine) as session:
        process_due(session, settings=settings, now=APPOINTMENT + timedelta(days=1))
        notifications = session.exec(select(Notification)).all()
        assert {n.kind for n in notifications} == {"reminder", "overdue", "alarm_before_visit", "battery"}
        assert all(SERIAL in n.message for n in notifications)  # the stored text is for staff inside the service
        messages = [render_message(session, n, delivery_key=f"{n.id}:email") for n in notifications]
    for message in messages:
        sent = message.subject + message.text + json.dumps(message.payload)
        assert PATIENT in message.subject
        assert PATIENT in message.text
        assert SERIAL not in sent
        assert "70" not in message.text  # nor the body mass
    battery = next(m for m in messages if m.kind == "battery")
    assert "battery" in battery.text
    assert "ERI" in battery.text


def test_no_patient_reference_or_serial_reaches_the_logs(
    tmp_path: Path, engine: Engine, actor: Actor, receiver: Receiver
) -> None:
    settings = _settings(tmp_path, notify_webhook_url=receiver.url)
    _booked(engine, settings, actor)
    clock = FixedClock(DAY_BEFORE)
    scheduler = RefillScheduler(
        engine, settings, clock, extra_work=(notification_dispatch_work(engine, settings, clock),)
    )
    with structlog.testing.capture_logs() as logs:
        scheduler.tick()
    assert any(entry["event"] == "notifications_dispatched" for entry in logs)
    assert PATIENT not in repr(logs)
    assert SERIAL not in repr(logs)


def test_acknowledged_or_moot_notifications_are_not_sent(
    tmp_path: Path, engine: Engine, actor: Actor, receiver: Receiver
) -> None:
    settings = _settings(tmp_path, notify_webhook_url=receiver.url)
    _booked(engine, settings, actor)
    [channel] = channels_from_settings(settings)
    with transaction(engine) as session:
        process_due(session, settings=settings, now=DAY_BEFORE)
        first, _second = session.exec(select(Notification).order_by(Notification.id)).all()  # type: ignore[arg-type]
        assert first.id is not None
        acknowledge(session, first.id, actor=actor, now=DAY_BEFORE)
        report = dispatch_notifications(session, [channel], now=DAY_BEFORE)
    assert report.counts == {"created": 1, "delivered": 1}  # the acknowledged one never gets a row
    assert len(receiver.bodies) == 1

    receiver.statuses.append(500)
    with transaction(engine) as session:
        process_due(session, settings=settings, now=APPOINTMENT + timedelta(days=1))  # overdue escalation
        assert dispatch_notifications(session, [channel], now=APPOINTMENT + timedelta(days=1)).counts == {
            "created": 1,
            "pending": 1,
        }
        [overdue] = session.exec(select(Notification).where(Notification.kind == "overdue")).all()
        assert overdue.id is not None
        acknowledge(session, overdue.id, actor=actor, now=APPOINTMENT + timedelta(days=1))
        later = dispatch_notifications(session, [channel], now=APPOINTMENT + timedelta(days=2))
        assert later.counts == {"cancelled": 1}
        [log] = list_deliveries(session, notification_id=overdue.id)
    assert (log.state, log.attempts, log.last_error) == ("cancelled", 1, "notification acknowledged before it was sent")


def test_recipients_follow_kind_then_level_then_default_and_channels_come_from_settings(tmp_path: Path) -> None:
    channel = EmailChannel(
        host="mail", sender="a@b.example", routes={"battery": ["tech@x"], "escalation": ["on@x"], "*": ["d@x"]}
    )
    assert channel.route("battery", "escalation") == ("tech@x",)
    assert channel.route("overdue", "escalation") == ("on@x",)
    assert channel.route("reminder", "info") == ("d@x",)
    assert (
        EmailChannel(host="mail", sender="a@b.example", routes={"escalation": ["on@x"]}).route("reminder", "info")
        is None
    )
    assert channels_from_settings(_settings(tmp_path)) == ()
    listed = _settings(tmp_path, smtp_host="mail", smtp_from="a@b.example", notify_email_to=["d@x"])
    assert listed.notify_email_to == {"*": ["d@x"]}
    with pytest.raises(ValueError, match="smtp_from"):
        channels_from_settings(_settings(tmp_path, smtp_host="mail"))
    with pytest.raises(ValueError, match="http"):
        WebhookChannel("ftp://example")
    with pytest.raises(ValueError, match="e-mail address"):
        _settings(tmp_path, notify_email_to={"*": ["not an address"]})


def test_a_delivery_being_sent_is_claimed_for_the_configured_time(
    tmp_path: Path, engine: Engine, actor: Actor, receiver: Receiver
) -> None:
    """While the webhook is being called, the row is claimed for ``delivery_claim_s``: no one else sends it."""
    settings = _settings(tmp_path, notify_webhook_url=receiver.url, reminder_days=[1], delivery_claim_s=120)
    _booked(engine, settings, actor)
    seen: list[datetime | None] = []
    receiver.on_post = lambda: seen.extend(row.next_attempt_at for row in _deliveries(engine))
    clock = FixedClock(DAY_BEFORE)
    RefillScheduler(engine, settings, clock, extra_work=(notification_dispatch_work(engine, settings, clock),)).tick()
    assert seen == [DAY_BEFORE + timedelta(seconds=120)]
    [row] = _deliveries(engine)
    assert row.state == "delivered"
