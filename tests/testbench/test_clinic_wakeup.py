"""The scheduler wake-up the clinic loop jumps to is exactly when the real tick next decides something."""

from datetime import timedelta
from pathlib import Path

from pump_service.scheduler.runner import RefillScheduler
from testbench.clinic_config import ClinicConfig
from testbench.clinic_loop import simulated_pump_for
from testbench.clinic_nurse import perform_visit
from testbench.clinic_population import generate_population
from testbench.clinic_service import open_service
from testbench.scheduler_wakeup import scheduler_wakeup


def test_nothing_is_decided_before_the_wakeup_and_something_is_at_it(tmp_path: Path) -> None:
    config = ClinicConfig(days=30, programmable=0, constant_flow=1, seed=5)
    plans = generate_population(config)
    service = open_service(config, plans, database_url=f"sqlite:///{tmp_path / 'c.db'}", run_id="wakeup-test")
    service.clock.set(config.start_at)
    pump = simulated_pump_for(plans[0], clock=service.clock, programmer=service.programmer)
    outcome = perform_visit(service, plans[0], pump, key="clinic-wakeup-0001", max_attempts=1)
    assert outcome.result is not None
    assert outcome.result.appointment is not None
    scheduler = RefillScheduler(service.engine, service.settings, service.clock)
    after = service.clock.now()
    decided = 0
    for _ in range(3):  # the 7-day reminder, the 1-day reminder, the overdue escalation
        wake = scheduler_wakeup(service.engine, after=after)
        assert wake is not None
        assert wake > after
        service.clock.set(wake - timedelta(seconds=1))
        assert scheduler.tick().total == 0
        service.clock.set(wake)
        report = scheduler.tick()
        assert report.total >= 1
        decided += report.total
        after = wake
    assert decided >= 3
    assert scheduler_wakeup(service.engine, after=after) is None
    service.engine.dispose()
