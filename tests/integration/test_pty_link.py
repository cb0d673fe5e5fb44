"""The station's real serial path (pyserial on a pty) against the simulated programmer, in real time."""

import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from drivers import ConflictError, ProgrammerClient, Transport, TransportError, open_transport
from pump_service.errors import DeviceError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord
from pump_service.services.actor import Actor
from pump_service.services.contracts import PumpRegistration
from pump_service.services.pumps.registry import register_pump
from pump_service.services.visits.interrogation import interrogate
from pump_service.settings import Settings
from schemas.clock import SystemClock
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump
from simulators.link_faults import LinkFaultPlan
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.serve import ProgrammerServer, serve_pty

pytestmark = [pytest.mark.pty, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux ptys")]

CLOCK = SystemClock()
BACLOFEN = DrugInPump(name="baclofen", conc_mg_per_ml=2.0)


def _pump(log_entries: int = 0) -> SimulatedProgrammablePump:
    pump = SimulatedProgrammablePump(
        get_pump_model("programmable-20"),
        clock=CLOCK,
        serial="SM-PTY",
        accuracy_factor=1.0,
        volume_ml=9.0,
        prescription=ContinuousPrescription(rate_ml_per_day=0.5),
        drug=BACLOFEN,
    )
    for i in range(log_entries):
        pump.set_clock(CLOCK.now(), request_id=f"c-{i}")
    return pump


@pytest.fixture
def noisy_server() -> Iterator[ProgrammerServer]:
    """A pump whose log has wrapped (10,000 entries written, 8,192 kept), behind a link that
    corrupts 1 % of frames in each direction."""
    programmer = SimulatedProgrammer([_pump(10_000)], clock=CLOCK, faults=LinkFaultPlan(seed=3, frame_error_rate=0.01))
    with serve_pty(programmer) as server:
        yield server


def _register(engine: Engine, actor: Actor) -> None:
    body = {
        "serial": "SM-PTY",
        "model_id": "programmable-20",
        "route": "intrathecal",
        "prescription": {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"},
    }
    with transaction(engine) as session:
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=CLOCK.now())


def _stored(engine: Engine) -> int:
    with transaction(engine) as session:
        query = select(func.count()).select_from(DeviceLogRecord).where(DeviceLogRecord.source == "pump")
        return int(session.exec(query).one())


def test_interrogate_twice_over_a_noisy_pty_stores_the_wrapped_log_once(
    noisy_server: ProgrammerServer, engine: Engine, settings: Settings, actor: Actor
) -> None:
    _register(engine, actor)
    first = interrogate(engine, noisy_server.address, settings=settings, clock=CLOCK, actor=actor)
    assert (first.new_log_entries, first.skipped_log_entries, first.log_next_index) == (8192, 10_000 - 8192, 10_000)
    assert first.reservoir_ml == pytest.approx(9.0, abs=1e-3)
    second = interrogate(engine, noisy_server.address, settings=settings, clock=CLOCK, actor=actor)
    assert second.new_log_entries == 0
    assert _stored(engine) == 8192
    faults = noisy_server.programmer.faults.injected
    assert faults.corrupted_in_frames + faults.corrupted_out_frames > 0  # the link really was noisy


def test_refill_and_reprogram_over_a_noisy_pty_with_a_stale_expect_refused(noisy_server: ProgrammerServer) -> None:
    transport = open_transport(noisy_server.address, clock=CLOCK)
    with ProgrammerClient(transport, clock=CLOCK) as client:
        client.link()
        before = client.status()
        assert before.prescription is not None
        confirmation = client.refill(
            volume_removed_ml=8.9, volume_added_ml=19.9, drug=BACLOFEN, reservoir_after_ml=20.0, request_id="pty-refill"
        )
        assert confirmation.reservoir_ml == 20.0
        rx = ContinuousPrescription(rate_ml_per_day=0.42)
        written = client.write_prescription(rx, expect=before.prescription.rx_id or "", request_id="pty-rx")
        with pytest.raises(ConflictError):
            client.write_prescription(rx, expect=before.prescription.rx_id or "")
        after = client.status()
    assert after.reservoir_ml == pytest.approx(20.0, abs=1e-3)
    assert after.prescription == written.prescription
    assert noisy_server.programmer.executed == [("REFILL", "pty-refill"), ("RX_WRITE", "pty-rx")]


def test_a_port_that_vanishes_mid_read_is_a_device_error_and_stores_nothing(
    engine: Engine, settings: Settings, actor: Actor
) -> None:
    programmer = SimulatedProgrammer([_pump(3000)], clock=CLOCK, faults=LinkFaultPlan(unplug_after_frames=20))
    _register(engine, actor)
    with serve_pty(programmer) as server, pytest.raises(DeviceError, match=r"/dev/pts/\d+"):
        interrogate(engine, server.address, settings=settings, clock=CLOCK, actor=actor)
    with transaction(engine) as session:
        interrogated = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "INTERROGATED")).all()
    assert interrogated == []  # no status stored from a failed interrogation
    assert _stored(engine) < 3000  # pages committed before the cable was pulled are kept, nothing after


def test_the_raw_transport_reports_the_vanished_port() -> None:
    programmer = SimulatedProgrammer([_pump()], clock=CLOCK)
    server = serve_pty(programmer)
    transport = open_transport(server.address, clock=CLOCK)
    server.stop()
    with pytest.raises(TransportError):
        _poke(transport)
    transport.close()


def _poke(transport: Transport) -> None:
    for _ in range(50):
        transport.write(b"\x7e")
        transport.read(16, 0.05)
