"""Hardware changes: a pump replaced (explanted, linked, refused afterwards) and a model corrected."""

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pump_service.errors import ConflictError, RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, Pump, PumpState
from pump_service.persistence.schedule_models import Appointment
from pump_service.services.actor import Actor
from pump_service.services.contracts import ConditionEntry, ModelCorrection, PumpReplacement
from pump_service.services.pumps.conditions import record_conditions
from pump_service.services.pumps.due_list import list_due
from pump_service.services.pumps.hardware import change_pump_model, replace_pump
from pump_service.services.pumps.registry import show_pump
from pump_service.settings import Settings
from tests.services.conftest import Record
from tests.services.test_visits import Station, refill_body
from tests.support import T0, fudr_refill

LATER = T0 + timedelta(days=7)


def _replacement(serial: str = "HAI-2", **extra: object) -> PumpReplacement:
    body = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "reason": "catheter occlusion", **extra}
    return PumpReplacement.model_validate(body)


def _pump(engine: Engine, serial: str) -> Pump:
    with transaction(engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == serial)).one()
        session.expunge(pump)
        return pump


def test_a_replaced_pump_is_explanted_linked_and_its_history_kept(
    engine: Engine, settings: Settings, actor: Actor, hai_pump: str, record: Record
) -> None:
    record(hai_pump, fudr_refill(T0))
    with transaction(engine) as session:
        assert [d.serial for d in list_due(session, now=T0, within_days=60)] == [hai_pump]
        done = replace_pump(session, hai_pump, _replacement(), actor=actor, now=LATER)
        closed = done.closed_appointments
    old, new = _pump(engine, hai_pump), _pump(engine, "HAI-2")
    assert (old.state, old.explanted_at, old.explant_reason) == (PumpState.EXPLANTED, LATER, "catheter occlusion")
    assert (old.replaced_by_id, new.replaces_id) == (new.id, old.id)
    assert (new.patient_id, new.state) == (old.patient_id, PumpState.ACTIVE)
    assert new.implanted_at == LATER
    with transaction(engine) as session:
        assert old.id is not None
        assert new.id is not None
        assert len(repo.refills_of(session, old.id)) == 1  # the old history stays with the old pump
        assert len(repo.refills_of(session, new.id)) == 0  # the new pump starts its own
        appointments = session.exec(select(Appointment).where(Appointment.pump_id == old.id)).all()
        assert len(closed) == 1
        assert [(a.id, a.status, a.closed_reason) for a in appointments] == [(closed[0], "cancelled", "pump explanted")]
        assert list_due(session, now=LATER, within_days=3660) == []
        event = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "PUMP_EXPLANTED")).one()
        assert (event.pump_id, event.actor, event.station_id) == (old.id, "nurse-7", "test-station")
        assert event.data["replaced_by"] == "HAI-2"
        view = show_pump(session, hai_pump, now=LATER)
    assert (view.state, view.replaced_by_serial) == (PumpState.EXPLANTED, "HAI-2")


def test_an_explanted_pump_is_refused_for_refills_and_conditions_but_its_successor_is_not(
    engine: Engine, settings: Settings, actor: Actor, hai_pump: str, record: Record
) -> None:
    with transaction(engine) as session:
        replace_pump(session, hai_pump, _replacement(), actor=actor, now=LATER)
    with pytest.raises(ConflictError, match=r"HAI-1 was explanted on .* use its replacement HAI-2"):
        record(hai_pump, fudr_refill(LATER + timedelta(hours=1)))
    entry = ConditionEntry(start_at=LATER, body_temperature_c=39.0)
    with transaction(engine) as session, pytest.raises(ConflictError, match="explanted"):
        record_conditions(session, hai_pump, entry, settings=settings, actor=actor, now=LATER)
    with transaction(engine) as session, pytest.raises(ConflictError, match="explanted"):
        replace_pump(session, hai_pump, _replacement("HAI-3"), actor=actor, now=LATER)
    result = record("HAI-2", fudr_refill(LATER + timedelta(hours=1)))
    assert result.refill_id


def test_a_replacement_under_a_registered_serial_or_in_the_future_changes_nothing(
    engine: Engine, actor: Actor, hai_pump: str
) -> None:
    with transaction(engine) as session, pytest.raises(ConflictError, match="already registered"):
        replace_pump(session, hai_pump, _replacement(hai_pump), actor=actor, now=LATER)
    with transaction(engine) as session, pytest.raises(RuleViolationError, match="future"):
        replace_pump(session, hai_pump, _replacement(implanted_at=LATER + timedelta(days=1)), actor=actor, now=LATER)
    assert _pump(engine, hai_pump).state is PumpState.ACTIVE


def test_an_explanted_programmable_pump_is_not_interrogated(station: Station) -> None:
    station.visit(refill_body())
    body = {"serial": "SM-2", "model_id": "programmable-20", "route": "intrathecal", "reason": "ERI"}
    with transaction(station.engine) as session:
        replace_pump(session, "SM-1", PumpReplacement.model_validate(body), actor=station.actor, now=T0)
    with pytest.raises(ConflictError, match="SM-1 was explanted"):
        station.start()
    station.clock.advance(86_400)
    with pytest.raises(ConflictError, match="SM-1 was explanted"):
        station.visit(refill_body(days=1))
    assert [c for c, _ in station.programmer.executed] == ["REFILL"]  # only the visit before


@pytest.fixture
def station(engine: Engine, settings: Settings, actor: Actor) -> Station:
    return Station(engine, settings, actor)


def test_a_model_is_corrected_within_its_family_on_the_record(engine: Engine, actor: Actor, hai_pump: str) -> None:
    with transaction(engine) as session:
        pump = change_pump_model(
            session, hai_pump, ModelCorrection(model_id="cf-50", reason="entered as HAI-30"), actor=actor, now=LATER
        )
        assert (pump.model_id, pump.nominal_rate_ml_per_day) == ("cf-50", 3.0)  # the default followed the model
        event = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "MODEL_CHANGED")).one()
    assert event.data["old"]["model_id"] == "hai-30"
    assert event.data["new"]["model_id"] == "cf-50"
    assert (event.actor, event.station_id, event.recorded_at) == ("nurse-7", "test-station", LATER)
    registered = [
        r for r in _log_types(engine) if r in {"PUMP_REGISTERED", "MODEL_CHANGED"}
    ]  # the registration stays in the history
    assert registered == ["PUMP_REGISTERED", "MODEL_CHANGED"]


def _log_types(engine: Engine) -> list[str]:
    with transaction(engine) as session:
        return [r.entry_type for r in session.exec(select(DeviceLogRecord).order_by(DeviceLogRecord.id)).all()]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model_id", "message"),
    [("programmable-20", "a pump of another family is a replacement"), ("hai-30", "already registered")],
)
def test_a_model_of_another_family_or_the_same_model_is_refused(
    engine: Engine, actor: Actor, hai_pump: str, model_id: str, message: str
) -> None:
    with transaction(engine) as session, pytest.raises(RuleViolationError, match=message):
        change_pump_model(session, hai_pump, ModelCorrection(model_id=model_id, reason="x"), actor=actor, now=LATER)
    assert _pump(engine, hai_pump).model_id == "hai-30"
    assert "MODEL_CHANGED" not in _log_types(engine)


def test_a_fill_the_corrected_model_cannot_hold_is_refused(
    engine: Engine, actor: Actor, hai_pump: str, record: Record
) -> None:
    with transaction(engine) as session:
        change_pump_model(session, hai_pump, ModelCorrection(model_id="cf-50", reason="x"), actor=actor, now=T0)
    record(hai_pump, fudr_refill(T0, fill_volume_ml="45 mL"))
    with transaction(engine) as session, pytest.raises(RuleViolationError, match="does not fit"):
        change_pump_model(session, hai_pump, ModelCorrection(model_id="hai-30", reason="x"), actor=actor, now=LATER)
