"""Programmer-link figures over a real pty: round trips per second, and a whole log download at
115200 baud against the wire time of the bytes it moved (target: within 10 %)."""

import time

from bench import Result
from drivers import ProgrammerClient, open_transport
from schemas.clock import SystemClock
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.serve import serve_pty

CLOCK = SystemClock()
BAUD = 115_200


def _programmer(log_entries: int, baudrate: int | None) -> SimulatedProgrammer:
    pump = SimulatedProgrammablePump(
        get_pump_model("programmable-20"),
        clock=CLOCK,
        serial="BENCH-1",
        volume_ml=20.0,
        prescription=ContinuousPrescription(rate_ml_per_day=0.5),
    )
    for i in range(log_entries):
        pump.set_clock(CLOCK.now(), request_id=f"c-{i}")
    return SimulatedProgrammer([pump], clock=CLOCK, baudrate=baudrate)


def _round_trips(count: int = 500) -> float:
    server = serve_pty(_programmer(0, None))
    with server, ProgrammerClient(open_transport(server.address, clock=CLOCK), clock=CLOCK) as client:
        client.link()
        started = time.perf_counter()
        for _ in range(count):
            client.status()
        return count / (time.perf_counter() - started)


def _log_download() -> tuple[float, float, float]:
    programmer = _programmer(8192, BAUD)
    server = serve_pty(programmer)
    with server, ProgrammerClient(open_transport(server.address, clock=CLOCK, baudrate=BAUD), clock=CLOCK) as client:
        client.link()
        before = programmer.bytes_received + programmer.bytes_sent
        started = time.perf_counter()
        log = client.read_log(0)
        elapsed = time.perf_counter() - started
    assert len(log.entries) == 8192  # noqa: S101 - a bench that read less would report a lie
    wire = (programmer.bytes_received + programmer.bytes_sent - before) * 10 / BAUD
    return elapsed, wire, 100.0 * (elapsed - wire) / wire


def run() -> list[Result]:
    elapsed, wire, overhead = _log_download()
    return [
        Result("link.pty_status_round_trips", _round_trips(), "round trips/s", True),
        Result("link.log_8192_download_at_115200", elapsed, "s", False),
        Result("link.log_8192_wire_time_at_115200", wire, "s", False),
        Result("link.log_8192_overhead_over_wire_time", overhead, "%", False),
    ]
