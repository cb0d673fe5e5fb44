"""Delivering stored charges: once per event across ticks, retried with backoff in virtual time."""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pump_service.billing import DeliveryStatus, ExportFormat, FolderDestination, HttpDestination, deliver
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import transaction
from pump_service.scheduler import RefillScheduler, charge_dispatch_work
from pump_service.services.actor import Actor
from pump_service.services.charges.dispatch import charge_destination, due_charges, record_outcomes
from pump_service.services.charges.recording import list_charges, void_charge
from pump_service.settings import Settings
from tests.charge_support import Receiver, bill_refill, billed_body, register_hai
from tests.support import T0, FixedClock

DELIVERY_AT = T0 + timedelta(hours=1)


@pytest.fixture
def billed(engine: Engine, settings: Settings, actor: Actor) -> list[ChargeEventRow]:
    register_hai(engine, actor)
    return bill_refill(engine, settings, actor, billed_body()).rows


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def _rows(engine: Engine) -> list[ChargeEventRow]:
    with transaction(engine) as session:
        return list_charges(session)


def test_a_drop_folder_gets_each_event_once_across_ticks(
    engine: Engine, settings: Settings, actor: Actor, billed: list[ChargeEventRow], drop: Path
) -> None:
    clock = FixedClock(DELIVERY_AT)
    work = charge_dispatch_work(engine, settings, clock, destination=FolderDestination(drop, ExportFormat.FHIR))
    first = work()
    assert first.counts == {"delivered": 4}
    clock.advance(60)
    assert work().outcomes == ()
    [written] = list(drop.iterdir())
    entries = json.loads(written.read_text())["entry"]
    assert [e["resource"]["id"] for e in entries] == [row.event_id for row in billed]
    assert {(r.delivery_status, r.attempts, r.delivered_at) for r in _rows(engine)} == {("delivered", 1, DELIVERY_AT)}

    with transaction(engine) as session:
        credit = void_charge(session, billed[0].event_id, reason="entered twice", actor=actor, now=clock.now())
    assert credit.kind == "credit"  # the charge had been delivered
    third = work()
    assert [(o.event_id, o.status) for o in third.outcomes] == [(credit.event_id, DeliveryStatus.DELIVERED)]
    assert len(list(drop.iterdir())) == 2
    assert work().outcomes == ()


def test_a_failing_endpoint_is_retried_with_backoff_in_virtual_time(
    engine: Engine, settings: Settings, billed: list[ChargeEventRow], receiver: Receiver
) -> None:
    receiver.statuses += [503, 500]
    clock = FixedClock(DELIVERY_AT)
    work = charge_dispatch_work(engine, settings, clock, destination=HttpDestination(receiver.url, ExportFormat.CSV))

    assert work().counts == {"retry": 4}
    [retry_at] = {r.next_attempt_at for r in _rows(engine)}  # a visit retries as one
    assert retry_at is not None
    assert DELIVERY_AT + timedelta(seconds=48) <= retry_at <= DELIVERY_AT + timedelta(seconds=60)
    assert {(r.delivery_status, r.attempts, r.last_error) for r in _rows(engine)} == {("pending", 1, "HTTP 503")}

    clock.set(retry_at - timedelta(seconds=1))
    assert work().outcomes == ()  # not due yet: nothing is sent
    assert len(receiver.bodies) == 1

    clock.set(retry_at)
    assert work().counts == {"retry": 4}
    [second_retry_at] = {r.next_attempt_at for r in _rows(engine)}
    assert second_retry_at is not None
    assert second_retry_at - retry_at >= timedelta(seconds=96)  # the delay doubled (less jitter)

    clock.set(second_retry_at)
    assert work().counts == {"delivered": 4}
    assert {(r.delivery_status, r.attempts, r.next_attempt_at, r.last_error) for r in _rows(engine)} == {
        ("delivered", 3, None, None)
    }
    clock.advance(3600)
    assert work().outcomes == ()
    assert len(receiver.bodies) == 3


def test_a_refused_delivery_is_rejected_and_not_retried(
    engine: Engine, settings: Settings, billed: list[ChargeEventRow], receiver: Receiver
) -> None:
    receiver.statuses.append(422)
    clock = FixedClock(DELIVERY_AT)
    work = charge_dispatch_work(engine, settings, clock, destination=HttpDestination(receiver.url, ExportFormat.FHIR))
    assert work().counts == {"rejected": 4}
    clock.advance(86400)
    assert work().outcomes == ()
    assert {(r.delivery_status, r.last_error) for r in _rows(engine)} == {("rejected", "HTTP 422")}


def test_hl7_skips_the_not_billable_lines(
    engine: Engine, settings: Settings, billed: list[ChargeEventRow], drop: Path
) -> None:
    work = charge_dispatch_work(
        engine, settings, FixedClock(DELIVERY_AT), destination=FolderDestination(drop, ExportFormat.HL7V2)
    )
    assert work().counts == {"delivered": 2, "skipped": 2}
    assert [r.delivery_status for r in _rows(engine)] == ["delivered", "delivered", "skipped", "skipped"]
    assert [r.attempts for r in _rows(engine)] == [1, 1, 0, 0]


def test_an_attempt_is_recorded_once_even_if_two_dispatchers_race(
    engine: Engine, billed: list[ChargeEventRow], drop: Path
) -> None:
    destination = FolderDestination(drop, ExportFormat.CSV)
    with transaction(engine) as session:
        due = due_charges(session, now=DELIVERY_AT)
    outcomes = deliver(due.events, destination, now=DELIVERY_AT, attempts=due.attempts)
    with transaction(engine) as session:
        assert len(record_outcomes(session, due, outcomes, now=DELIVERY_AT).outcomes) == 4
    with transaction(engine) as session:
        assert record_outcomes(session, due, outcomes, now=DELIVERY_AT).outcomes == ()
    assert {r.attempts for r in _rows(engine)} == {1}


def test_the_scheduler_tick_runs_the_delivery(
    engine: Engine, settings: Settings, billed: list[ChargeEventRow], drop: Path
) -> None:
    clock = FixedClock(DELIVERY_AT)
    work = charge_dispatch_work(engine, settings, clock, destination=FolderDestination(drop, ExportFormat.FHIR))
    RefillScheduler(engine, settings, clock, extra_work=(work,)).tick()
    assert {r.delivery_status for r in _rows(engine)} == {"delivered"}


def test_the_destination_comes_from_the_settings(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    assert charge_destination(settings) is None
    assert charge_dispatch_work(engine, settings, FixedClock())().outcomes == ()  # nothing configured: no-op

    def with_(**changes: str) -> Settings:
        return settings.model_copy(update=changes)

    folder = charge_destination(with_(charge_drop_folder=str(tmp_path), charge_export_format="hl7"))
    assert folder == FolderDestination(tmp_path, ExportFormat.HL7V2)
    url = charge_destination(with_(charge_destination_url="https://billing.example/charges"))
    assert url == HttpDestination("https://billing.example/charges", ExportFormat.FHIR)
    with pytest.raises(ValueError, match="not both"):
        charge_destination(with_(charge_destination_url="https://b.example", charge_drop_folder="x"))
    with pytest.raises(ValueError, match="http:// or https://"):
        charge_dispatch_work(engine, with_(charge_destination_url="ftp://b.example"), FixedClock())
