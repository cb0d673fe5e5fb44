"""No patient identifier reaches the application logs, through a whole day at the station.

The flow: register a patient and pumps (CLI and services), refill a programmable pump through the
programmer (with a link failure that the driver logs and reconciles), record a refill that books
the next appointment, and let the scheduler send the reminders by e-mail and escalate the missed
visit; a failing tick whose error names the patient is logged too. Every stdlib log record (at
DEBUG, from every logger) and every structlog event is captured; none may hold the patient's
reference, nor the body mass that came with it.
"""

import logging
from collections.abc import Iterator, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from sqlalchemy import Engine
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.errors import NotFoundError
from pump_service.persistence.db import make_engine, transaction
from pump_service.scheduler import RefillScheduler, notification_dispatch_work
from pump_service.services.actor import Actor
from pump_service.services.contracts import PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_pump
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from simulators.link_faults import LinkFaultPlan
from tests.notify_support import MailHandler, SmtpServer
from tests.services.test_visits import Station, refill_body
from tests.support import T0, FixedClock, fudr_refill

PATIENT = "PSEUDO-5521"
STATION_PATIENT = "P-9"  # the programmable pump's patient (tests/services/test_visits.Station)
BODY_MASS = "83.7"
APPOINTMENT = T0 + timedelta(days=14, hours=4)


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    server = SmtpServer(MailHandler())
    server.start()
    yield server
    server.stop()


# aiosmtpd, the test's own mail server, logs the messages it receives: not the application's logs.
_TEST_SERVER_LOGGERS = ("mail.log",)


def _log_text(caplog: pytest.LogCaptureFixture, events: list[MutableMapping[str, Any]]) -> str:
    records = [r for r in caplog.records if not r.name.startswith(_TEST_SERVER_LOGGERS)]
    lines = [f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in records]
    return "\n".join(lines) + "\n" + repr(events)


def test_a_day_at_the_station_logs_no_patient_identifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, mail: SmtpServer
) -> None:
    url = f"sqlite:///{tmp_path}/station.db"
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    settings = Settings(
        database_url=url,
        station_id="test-station",
        clinic_tz="America/New_York",
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        smtp_from="pumps@clinic.example",
        notify_email_to={"reminder": ["desk@clinic.example"], "escalation": ["oncall@clinic.example"]},
    )
    actor = Actor(user="nurse-7", station_id="test-station")
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    with structlog.testing.capture_logs() as events:
        assert runner.invoke(app, ["migrate"]).exit_code == 0
        added = runner.invoke(app, ["patients", "add", PATIENT, "--body-mass", f"{BODY_MASS} kg", "--actor", "nurse-7"])
        assert added.exit_code == 0, added.stderr
        engine = make_engine(url)
        try:
            _refill_and_book(engine, settings, actor)
            _refill_through_the_programmer(engine, settings, actor)
            _notify_and_escalate(engine, settings)
        finally:
            engine.dispose()
        RefillScheduler._on_problem(  # what APScheduler reports when a tick raises
            JobExecutionEvent(EVENT_JOB_ERROR, "tick", "default", T0, exception=NotFoundError(f"no patient {PATIENT}"))
        )
    text = _log_text(caplog, events)
    # The flow did log: the database opened, the driver's unknown outcome, the ticks, the mail, the failure.
    for expected in (
        "database sqlite",
        "outcome unknown",
        "'tick'",
        "notifications_dispatched",
        "tick_failed",
    ):
        assert expected in text, expected
    assert mail.handler.received  # the reminders went out (they name the patient, by design: not a log)
    for identifier in (PATIENT, STATION_PATIENT, BODY_MASS):
        assert identifier not in text, identifier


def _refill_and_book(engine: Engine, settings: Settings, actor: Actor) -> None:
    """An HAI pump for the patient, refilled at T0: the refill books the next appointment."""
    with transaction(engine) as session:
        body = {"serial": "HAI-7731", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": PATIENT}
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
        entry = RefillEntry.model_validate(fudr_refill(T0))
        result = record_refill(session, "HAI-7731", entry, actor=actor, settings=settings, now=T0)
    assert result.next_due_at is not None


def _refill_through_the_programmer(engine: Engine, settings: Settings, actor: Actor) -> None:
    station = Station(engine, settings, actor)
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    with pytest.raises(Exception, match="outcome unknown"):
        station.visit(refill_body())
    station.programmer.faults = LinkFaultPlan()
    station.visit(refill_body())


def _notify_and_escalate(engine: Engine, settings: Settings) -> None:
    clock = FixedClock(APPOINTMENT - timedelta(hours=23))
    scheduler = RefillScheduler(
        engine, settings, clock, extra_work=(notification_dispatch_work(engine, settings, clock),)
    )
    scheduler.tick()
    clock.set(APPOINTMENT + timedelta(days=1))
    scheduler.tick()
    scheduler.tick()
