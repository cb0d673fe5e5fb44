from datetime import time, timedelta

import pytest

from schemas.device_log import LogEntryType
from schemas.prescription import ContinuousPrescription, RateStep, StepsPrescription
from schemas.pump_catalogue import get_pump_model
from schemas.status import AlarmCode, BatteryState, DrugInPump
from simulators.clock import ManualClock
from simulators.event_log import LOG_CAPACITY, PumpEventLog
from simulators.programmable import PumpCommandError, SimulatedProgrammablePump
from simulators.pump_faults import MotorStall
from tests.support import T0

PP20 = get_pump_model("programmable-20")
BACLOFEN = DrugInPump(name="baclofen", conc_mg_per_ml=2.0)


def _pump(clock: ManualClock, **kwargs: object) -> SimulatedProgrammablePump:
    defaults: dict[str, object] = {
        "accuracy_factor": 1.0,
        "volume_ml": 20.0,
        "prescription": ContinuousPrescription(rate_ml_per_day=0.5),
        "drug": BACLOFEN,
    }
    defaults.update(kwargs)
    return SimulatedProgrammablePump(PP20, clock=clock, **defaults)  # type: ignore[arg-type]


def _raised(pump: SimulatedProgrammablePump) -> list[tuple[str, float]]:
    entries, _, _ = pump.read_log(0, 64)
    return [
        (e.data["code"], (e.device_time_at - T0).total_seconds() / 86_400)
        for e in entries
        if e.type is LogEntryType.ALARM_RAISED
    ]


def test_low_reservoir_on_day_36_and_empty_on_day_40_each_logged_once() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    for _ in range(50):  # daily interrogations must not log anything twice
        clock.advance(timedelta(days=1))
        pump.status()
    raised = _raised(pump)
    assert [code for code, _ in raised] == ["LOW_RESERVOIR", "EMPTY_RESERVOIR"]
    assert [day for _, day in raised] == pytest.approx([36.0, 40.0])
    status = pump.status()
    assert {a.code for a in status.alarms} == {AlarmCode.LOW_RESERVOIR, AlarmCode.EMPTY_RESERVOIR}
    assert status.reservoir_ml == 0.0
    assert pump.dry_at == T0 + timedelta(days=40)


def test_eri_then_eos_ninety_days_later_stops_delivery() -> None:
    clock = ManualClock(T0)
    eri = T0 + timedelta(days=10)
    pump = _pump(clock, eri_at=eri, prescription=ContinuousPrescription(rate_ml_per_day=0.1))
    clock.advance(timedelta(days=11))
    assert pump.status().battery.state is BatteryState.ERI
    clock.set(eri + timedelta(days=90))
    status = pump.status()
    assert status.battery.state is BatteryState.EOS
    assert pump.register_ml == pytest.approx(20.0 - 0.1 * 100)
    clock.advance(timedelta(days=30))
    assert pump.status().reservoir_ml == pytest.approx(10.0)  # nothing delivered after EOS
    entries, _, _ = pump.log.read(0, 64)
    battery = [(e.data["state"], e.device_time_at) for e in entries if e.type is LogEntryType.BATTERY_STATE]
    assert battery == [("ERI", eri), ("EOS", eri + timedelta(days=90))]
    assert [c for c, _ in _raised(pump)] == ["ERI", "EOS"]


def test_months_to_eri_count_down_from_the_battery_life() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock, implanted_at=T0)
    assert pump.status().battery.months_to_eri == 72  # the 6-year default battery life
    with pytest.raises(PumpCommandError) as refused:
        pump.bolus(kind="bridge", volume_ml=30.0, duration_s=600)
    assert refused.value.code == "OUT_OF_RANGE"


def test_the_register_drifts_from_the_true_volume_by_the_accuracy_error() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock, accuracy_factor=1.05)
    clock.advance(timedelta(days=20))
    pump.sync()
    assert pump.register_ml == pytest.approx(10.0)
    assert pump.true_ml == pytest.approx(20.0 - 10.0 * 1.05)
    assert pump.aspirate(resolution_ml=0.1).measured_ml == pytest.approx(9.5)


def test_a_step_profile_delivers_its_daily_mean_and_a_bolus_adds_to_it() -> None:
    steps = StepsPrescription(
        steps=(RateStep(start=time(0, 0), rate_ml_per_day=0.2), RateStep(start=time(8, 0), rate_ml_per_day=0.8))
    )
    clock = ManualClock(T0.replace(hour=0))
    pump = _pump(clock, prescription=steps)
    clock.advance(timedelta(days=3))
    pump.sync()
    assert pump.register_ml == pytest.approx(20.0 - 3 * steps.mean_rate_ml_per_day())
    pump.bolus(kind="bridge", volume_ml=0.5, duration_s=3600)
    clock.advance(timedelta(days=1))
    pump.sync()
    assert pump.register_ml == pytest.approx(20.0 - 4 * steps.mean_rate_ml_per_day() - 0.5)


def test_refill_clears_and_re_arms_the_reservoir_alarms() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    clock.advance(timedelta(days=37))
    assert AlarmCode.LOW_RESERVOIR in {a.code for a in pump.status().alarms}
    removed = pump.aspirate().removed_ml
    pump.inject(20.0)
    pump.record_refill(
        volume_removed_ml=removed, volume_added_ml=20.0, reservoir_after_ml=20.0, drug=BACLOFEN, request_id="r-1"
    )
    assert pump.status().alarms == ()
    clock.advance(timedelta(days=37))
    assert [c for c, _ in _raised(pump)] == ["LOW_RESERVOIR", "LOW_RESERVOIR"]
    refilled = pump.log.find(lambda e: e.type is LogEntryType.REFILLED)
    assert refilled is not None
    assert refilled.data["request_id"] == "r-1"
    assert refilled.data["reservoir"] == "20 mL"


def test_refill_out_of_range_is_refused_and_changes_nothing() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    before = pump.log.next
    with pytest.raises(PumpCommandError) as refused:
        pump.record_refill(volume_removed_ml=0.0, volume_added_ml=5.0, reservoir_after_ml=20.0, drug=BACLOFEN)
    assert refused.value.code == "OUT_OF_RANGE"
    assert (pump.log.next, pump.register_ml) == (before, 20.0)


def test_prescription_writes_need_the_current_rx_id() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    current = pump.status().prescription
    assert current is not None
    assert current.rx_id is not None
    new_id = pump.write_prescription(ContinuousPrescription(rate_ml_per_day=0.3), expect=current.rx_id)
    assert new_id != current.rx_id
    with pytest.raises(PumpCommandError) as stale:
        pump.write_prescription(ContinuousPrescription(rate_ml_per_day=0.4), expect=current.rx_id)
    assert stale.value.code == "CONFLICT"
    with pytest.raises(PumpCommandError) as too_fast:
        pump.write_prescription(ContinuousPrescription(rate_ml_per_day=30.0), expect=new_id)
    assert too_fast.value.code == "OUT_OF_RANGE"
    assert pump.status().prescription == ContinuousPrescription(rate_ml_per_day=0.3, rx_id=new_id)


def test_the_pump_clock_drifts_and_can_be_set() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock, clock_drift_ppm=20.0, clock_offset_s=-5.0)
    clock.advance(timedelta(days=100))
    drift = (pump.status().clock_at - clock.now()).total_seconds()
    assert drift == pytest.approx(-5.0 + 20e-6 * 100 * 86_400)
    previous, new = pump.set_clock(clock.now(), request_id="c-1")
    assert (previous - clock.now()).total_seconds() == pytest.approx(drift)
    assert pump.status().clock_at == new


def test_a_motor_stall_stops_delivery_and_is_logged() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock, faults=(MotorStall(T0 + timedelta(days=2)),))
    clock.advance(timedelta(days=5))
    assert pump.status().reservoir_ml == pytest.approx(19.0)
    types = [e.type for e in pump.log.read(0, 64)[0]]
    assert types == [LogEntryType.MOTOR_STALL, LogEntryType.ALARM_RAISED]
    with pytest.raises(PumpCommandError) as refused:
        pump.bolus(kind="bridge", volume_ml=0.5, duration_s=60)
    assert refused.value.code == "PUMP_FAULT"


def test_acknowledging_an_alarm_silences_it() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    clock.advance(timedelta(days=37))
    pump.acknowledge_alarm(AlarmCode.LOW_RESERVOIR)
    assert pump.status().alarms == ()
    with pytest.raises(PumpCommandError) as refused:
        pump.acknowledge_alarm(AlarmCode.LOW_RESERVOIR)
    assert refused.value.code == "NOT_FOUND"


def test_the_event_log_wraps_at_8192_entries_and_indices_stay_monotonic() -> None:
    clock = ManualClock(T0)
    pump = _pump(clock)
    for i in range(LOG_CAPACITY + 1000):
        clock.advance(60)
        pump.set_clock(clock.now(), request_id=f"c-{i}")
    assert (pump.log.first, pump.log.next) == (1000, LOG_CAPACITY + 1000)
    indices: list[int] = []
    cursor, more = 0, True
    while more:
        page, cursor, more = pump.log.read(cursor, 64)
        indices.extend(e.index for e in page)
    assert indices == list(range(1000, LOG_CAPACITY + 1000))


def test_reading_past_the_end_returns_nothing() -> None:
    log = PumpEventLog(capacity=4)
    assert log.read(0, 10) == ([], 0, False)
    assert log.read(7, 10) == ([], 7, False)
