"""A programmer serving a clinic's fleet of programmable pumps: a command touches only the linked pump."""

import pytest

from drivers import ProgrammerClient
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from simulators.clock import ManualClock
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.transport import SimulatorTransport
from tests.support import T0


def test_an_interrogation_among_a_thousand_pumps_syncs_only_the_linked_one(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ManualClock(T0)
    model = get_pump_model("programmable-20")
    pumps = [
        SimulatedProgrammablePump(
            model,
            clock=clock,
            serial=f"SM-{i:04d}",
            volume_ml=20.0,
            prescription=ContinuousPrescription(rate_ml_per_day=0.5),
        )
        for i in range(1000)
    ]
    programmer = SimulatedProgrammer(pumps, clock=clock)
    client = ProgrammerClient(SimulatorTransport("sim://clinic", clock=clock, programmer=programmer), clock=clock)
    touched: list[str] = []
    sync = SimulatedProgrammablePump.sync

    def counted(self: SimulatedProgrammablePump) -> None:
        touched.append(self.serial)
        sync(self)

    monkeypatch.setattr(SimulatedProgrammablePump, "sync", counted)
    clock.advance(86_400.0)
    client.link("SM-0637")
    status = client.status()
    client.set_clock(clock.now())
    log = client.read_log(0)
    client.unlink()
    assert status.serial == "SM-0637"
    assert log.entries
    assert set(touched) == {"SM-0637"}
