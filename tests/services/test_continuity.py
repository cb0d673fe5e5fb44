"""A pump whose log restarts is re-baselined, never left failing; a different pump is refused.

The regression: after a restart of ``make run`` (or of the simulated programmer) the demo pump's
log started again at 0 while the stored cursor was ahead, and every visit failed with
``OUT_OF_RANGE`` forever.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.errors import ConflictError
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import DeviceLogRecord, Pump, Refill
from pump_service.services.actor import Actor
from pump_service.services.contracts import RefillEntry
from pump_service.services.demo import seed_demo
from pump_service.services.visits.continuity import LogBreak, StoredLog, check_identity, find_break
from pump_service.services.visits.interrogation import interrogate, log_cursor
from pump_service.settings import Settings
from schemas.device_log import DeviceLogEntry, LogEntryType
from schemas.prescription import ContinuousPrescription
from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump, PumpStatus
from simulators.clock import ManualClock
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.transport import programmer_from_url, register_programmer
from tests.auth_support import login_client
from tests.cosign_support import second_checks_for
from tests.services.test_visits import Station, refill_body
from tests.support import T0


@pytest.fixture
def station(engine: Engine, settings: Settings, actor: Actor) -> Station:
    return Station(engine, settings, actor)


def _restart(station: Station, *, model_id: str = "programmable-20", serial: str = "SM-1", **pump: Any) -> None:
    """A new simulated pump behind the station's programmer URL: its log starts again at 0."""
    station.pump = SimulatedProgrammablePump(
        get_pump_model(model_id),
        clock=station.clock,
        serial=serial,
        accuracy_factor=1.0,
        volume_ml=pump.pop("volume_ml", 4.0),
        prescription=ContinuousPrescription(rate_ml_per_day=0.5),
        drug=DrugInPump(name="baclofen", conc_mg_per_ml=2.0),
        **pump,
    )
    station.programmer = SimulatedProgrammer([station.pump], clock=station.clock)
    register_programmer(station.url, station.programmer)


def _interrogate(station: Station) -> Any:
    return interrogate(
        station.engine,
        station.url,
        settings=station.settings,
        clock=station.clock,
        actor=station.actor,
        pump_serial="SM-1",
    )


def _log(station: Station) -> list[DeviceLogRecord]:
    with transaction(station.engine) as session:
        rows = session.exec(select(DeviceLogRecord).order_by(DeviceLogRecord.id)).all()  # type: ignore[arg-type]
        for row in rows:
            session.expunge(row)
        return list(rows)


def _pump_row(station: Station) -> Pump:
    with transaction(station.engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == "SM-1")).one()
        session.expunge(pump)
        return pump


def test_a_restarted_pump_is_rebaselined_and_its_new_log_stored_once(station: Station) -> None:
    station.visit(refill_body())
    first = _interrogate(station)
    assert first.warnings == ()
    stored_before = [r for r in _log(station) if r.source == "pump"]
    assert stored_before, "the first pump's log was downloaded"
    with transaction(station.engine) as session:
        old_cursor = log_cursor(session, _pump_row(station).id or 0)
    assert old_cursor > 0

    station.clock.advance(86_400 - 60)
    _restart(station)  # a fresh log at index 0, behind the stored cursor
    assert station.pump.log.next < old_cursor

    result = _interrogate(station)

    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("log_rebaselined:")
    rebaselined = [r for r in _log(station) if r.entry_type == "LOG_REBASELINED"]
    assert len(rebaselined) == 1
    assert rebaselined[0].data["reason"] == LogBreak.LOG_BEHIND.value
    assert rebaselined[0].data["previous_cursor"] == old_cursor
    assert rebaselined[0].data["log_next"] == 0
    assert (rebaselined[0].actor, rebaselined[0].station_id) == ("nurse-7", "test-station")
    assert _pump_row(station).log_epoch == 1
    # The old epoch's history is kept as it was.
    assert [r.id for r in _log(station) if r.source == "pump" and r.log_epoch == 0] == [r.id for r in stored_before]

    # The new log grows from 0 and is stored in the new epoch, each entry once.
    station.pump.log.append(station.clock.now(), LogEntryType.BATTERY_STATE, {"state": "OK"})
    station.pump.log.append(station.clock.now(), LogEntryType.RESET, {})
    station.clock.advance(60)
    again = _interrogate(station)
    assert again.warnings == ()
    assert again.new_log_entries == 2
    new_epoch = [r for r in _log(station) if r.source == "pump" and r.log_epoch == 1]
    assert [r.log_index for r in new_epoch] == [0, 1]
    assert _interrogate(station).new_log_entries == 0
    assert len([r for r in _log(station) if r.source == "pump" and r.log_epoch == 1]) == 2
    assert len([r for r in _log(station) if r.entry_type == "LOG_REBASELINED"]) == 1

    # And the restarted pump takes a refill.
    refill = station.visit(refill_body(days=1, returned=station.pump.register_ml))
    assert station.pump.register_ml == pytest.approx(20.0)
    assert not refill.replayed
    assert any(r.entry_type == "REFILLED" and r.log_epoch == 1 for r in _log(station))


def test_a_refill_visit_on_a_restarted_pump_rebaselines_and_succeeds(station: Station) -> None:
    station.visit(refill_body())
    station.clock.advance(86_400)
    _restart(station, volume_ml=19.0)

    result = station.visit(refill_body(days=1, returned=19.0))

    assert any(f.code == "device" and f.message.startswith("log_rebaselined:") for f in result.findings)
    assert station.count(Refill) == 2
    assert _pump_row(station).log_epoch == 1
    refilled = [r for r in _log(station) if r.entry_type == "REFILLED"]
    assert [(r.log_epoch, r.log_index) for r in refilled] == [(0, 0), (1, 0)]  # the same index, two epochs


def test_a_new_log_that_already_caught_up_is_recognised_by_its_entries(station: Station) -> None:
    """The new board logged more than was stored: the cursor alone would miss the restart."""
    station.visit(refill_body())
    station.clock.advance(86_400)
    _restart(station)
    for _ in range(3):
        station.pump.log.append(station.clock.now(), LogEntryType.BATTERY_STATE, {"state": "OK"})
    result = _interrogate(station)
    assert result.warnings[0].startswith("log_rebaselined:")
    assert [r.data["reason"] for r in _log(station) if r.entry_type == "LOG_REBASELINED"] == ["entry_differs"]
    assert result.new_log_entries == 3


def test_a_pump_clock_set_back_with_its_log_intact_is_only_a_warning(station: Station) -> None:
    station.visit(refill_body())
    station.pump._clock_offset_s = -7200  # a station set the clock two hours back
    result = _interrogate(station)
    assert [w.split(":")[0] for w in result.warnings] == ["pump_clock_behind"]
    assert _pump_row(station).log_epoch == 0


def _status(serial: str = "SM-1", model_id: str = "programmable-20", *, next_index: int, clock_at: Any) -> PumpStatus:
    return PumpStatus.model_validate(
        {
            "serial": serial,
            "model_id": model_id,
            "family": "programmable",
            "clock_at": clock_at,
            "reservoir_ml": 4.0,
            "capacity_ml": 20.0,
            "low_reservoir_alarm_ml": 2.0,
            "battery": {"state": "OK", "months_to_eri": 30},
            "log": {"first": 0, "next": next_index},
        }
    )


def test_the_break_rules() -> None:
    newest = DeviceLogRecord(
        pump_id=1,
        source="pump",
        log_index=4,
        entry_type="REFILLED",
        device_time_at=T0,
        recorded_at=T0,
        actor="a",
        station_id="s",
    )
    stored = StoredLog(epoch=0, cursor=5, newest=newest, newest_device_time_at=T0)
    later = T0 + timedelta(hours=1)
    assert find_break(stored, _status(next_index=5, clock_at=later)) is None
    assert find_break(stored, _status(next_index=4, clock_at=later)) is LogBreak.LOG_BEHIND
    assert find_break(stored, _status(next_index=9, clock_at=T0 - timedelta(days=1))) is LogBreak.CLOCK_BEHIND
    same = DeviceLogEntry(index=4, device_time_at=T0, type=LogEntryType.REFILLED)
    other = DeviceLogEntry(index=4, device_time_at=later, type=LogEntryType.BATTERY_STATE)
    behind_clock = _status(next_index=9, clock_at=T0 - timedelta(days=1))
    assert find_break(stored, behind_clock, same) is None  # its own entry is still there: the log continues
    assert find_break(stored, _status(next_index=9, clock_at=later), other) is LogBreak.ENTRY_DIFFERS
    empty = StoredLog(epoch=0, cursor=0, newest=None, newest_device_time_at=None)
    assert find_break(empty, _status(next_index=0, clock_at=T0)) is None


def test_a_different_model_answering_is_refused_naming_both_and_nothing_is_stored(station: Station) -> None:
    station.visit(refill_body())
    before = _log(station)
    _restart(station, model_id="programmable-40")
    station.pump.log.append(station.clock.now(), LogEntryType.RESET, {})
    with pytest.raises(ConflictError) as refused:
        _interrogate(station)
    assert "registered SM-1 (programmable-20), answering SM-1 (programmable-40)" in str(refused.value)
    assert [r.id for r in _log(station)] == [r.id for r in before]
    assert _pump_row(station).log_epoch == 0


def test_a_different_serial_answering_is_refused_naming_both() -> None:
    pump = Pump(
        serial="SM-1",
        model_id="programmable-20",
        family=PumpFamily.PROGRAMMABLE,
        route="intrathecal",
        created_at=T0,
        created_by="a",
        station_id="s",
        updated_at=T0,
        updated_by="a",
    )
    with pytest.raises(ConflictError, match=r"registered SM-1 \(programmable-20\), answering SM-9 \(programmable-20\)"):
        check_identity(pump, _status(serial="SM-9", next_index=0, clock_at=T0))
    check_identity(pump, _status(next_index=0, clock_at=T0))  # the registered pump passes


def test_a_visit_to_a_different_pump_is_refused_before_anything_is_written(station: Station) -> None:
    station.visit(refill_body())
    station.clock.advance(86_400)
    _restart(station, model_id="programmable-40")
    with pytest.raises(ConflictError, match=r"registered SM-1 \(programmable-20\), answering SM-1 \(programmable-40\)"):
        station.visit(refill_body(days=1))
    assert station.programmer.executed == []
    assert station.count(Refill) == 1


DEMO_DEVICE = "sim://programmable-20?serial=SM20-0003&volume=10"


def _demo_refill(day: int) -> dict[str, Any]:
    return {
        "performed_at": T0.isoformat(),  # rewritten to the clock by the caller
        "returned_volume_ml": "10 mL",
        "fill_volume_ml": "20 mL",
        "components": [
            {"drug_id": "baclofen", "conc_mg_per_ml": "2000 ug/mL", "lot": "BAC-2", "expires_on": "2027-12-31"}
        ],
        "idempotency_key": f"demo-refill-{day}",
    }


def test_make_run_restarted_twice_still_refills_the_demo_programmable_pump(tmp_path: Path) -> None:
    """What ``make run`` does, twice on one database: seed (once), a fresh embedded simulator, a visit."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/pump.db",
        station_id="demo-station",
        clinic_tz="America/New_York",
        device_url=DEMO_DEVICE,
    )
    clock = ManualClock(T0)
    for run in (1, 2, 3):
        engine: Engine = make_engine(settings.database_url)
        upgrade(engine)
        with transaction(engine) as session:
            seed_demo(session, settings=settings, now=clock.now())
        register_programmer(DEMO_DEVICE, programmer_from_url(DEMO_DEVICE, clock))  # a new process, a new simulator
        try:
            app = create_app(settings, clock=clock, engine=engine)
            with login_client(app, Role.NURSE, programmer_url=DEMO_DEVICE, station_id="bench-1") as client:
                visit = client.post("/pumps/SM20-0003/visits")
                assert visit.status_code == 200, visit.text
                body = {**_demo_refill(run), "performed_at": clock.now().isoformat()}
                nurse = Actor(user="nurse-3", station_id="bench-1")
                checks = second_checks_for(
                    engine, "SM20-0003", RefillEntry.model_validate(body), settings=settings, clock=clock, actor=nurse
                )
                body["cosignatures"] = checks  # a second nurse checked the baclofen fill
                refill = client.post("/pumps/SM20-0003/refills", json=body)
                assert refill.status_code == 201, refill.text
                assert refill.json()["simulated"] is True  # the demo's programmer is the simulator
                if run > 1:
                    assert any(a.startswith("log_rebaselined:") for a in visit.json()["attention"])
        finally:
            engine.dispose()
        clock.advance(86_400)
    engine = make_engine(settings.database_url)
    with transaction(engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == "SM20-0003")).one()
        assert pump.id is not None
        refills = session.exec(select(func.count()).select_from(Refill).where(Refill.pump_id == pump.id)).one()
    engine.dispose()
    assert refills == 4  # the seeded one and one per run
    assert pump.log_epoch == 2
