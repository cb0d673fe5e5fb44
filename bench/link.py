"""Programmer-link figures over a real pty: round trips per second, and a whole log download at
115200 baud against the wire time of the bytes it moved (target: within 10 %).

And on a noisy line (1e-3 of bytes flipped, or dropped), the interrogation (``LINK``, ``STATUS``,
the whole log of ``NOISY_LOG_ENTRIES`` entries) with adaptive ``LOG_READ`` pages against fixed
64-entry and fixed 8-entry pages: the share of ``NOISY_SEEDS`` seeded interrogations that complete,
their mean duration and page requests. These run on the in-process ``sim://`` pipe in virtual
time, paced at 115200 baud, with HPP/1's timeouts (3 s per ``LOG_READ`` attempt, the cost of
every damaged page), so the seconds are what a station on such a line would wait, measured in a
fraction of that. "Fixed" pages keep the rest of the driver's recovery (resends, reads asked
again, a failed page asked again at the same size up to ``FLOOR_FAILURES`` times): only the
size is held.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench import Result
from bench.sizes import sized
from drivers import DriverError, ProgrammerClient, open_transport
from drivers.paging import AdaptivePageSize
from schemas.clock import Clock, SystemClock
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from simulators.clock import ManualClock
from simulators.link_faults import LinkFaultPlan
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.serve import serve_pty
from simulators.transport import SimulatorTransport

CLOCK = SystemClock()
BAUD = 115_200
NOISY_SEEDS = sized(20, 2)
NOISY_LOG_ENTRIES = sized(200, 20)  # ~150 bytes each: 10 pages of 4 KB on a clean line
LOG_ENTRIES = sized(8192, 64)  # the baud-paced download: about two minutes in a full run
ROUND_TRIPS = sized(500, 10)
NOISE: dict[str, Callable[[int], LinkFaultPlan]] = {
    "flipped": lambda seed: LinkFaultPlan(seed=seed, byte_error_rate=1e-3),
    "dropped": lambda seed: LinkFaultPlan(seed=seed, byte_drop_rate=1e-3),
    "clean": lambda seed: LinkFaultPlan(seed=seed),
}
PAGES = {"adaptive": (2, 64), "fixed_64": (64, 64), "fixed_8": (8, 8)}  # (floor, ceiling)


def _pump(log_entries: int, clock: Clock) -> SimulatedProgrammablePump:
    pump = SimulatedProgrammablePump(
        get_pump_model("programmable-20"),
        clock=clock,
        serial="BENCH-1",
        volume_ml=20.0,
        prescription=ContinuousPrescription(rate_ml_per_day=0.5),
    )
    for i in range(log_entries):
        pump.set_clock(clock.now(), request_id=f"c-{i}")
    return pump


def _programmer(log_entries: int, baudrate: int | None) -> SimulatedProgrammer:
    return SimulatedProgrammer([_pump(log_entries, CLOCK)], clock=CLOCK, baudrate=baudrate)


def _noisy_interrogation(faults: LinkFaultPlan, pages: tuple[int, int]) -> tuple[bool, float, int]:
    """One interrogation on a noisy line in virtual time: (completed, seconds, LOG_READ requests)."""
    clock = ManualClock(datetime(2026, 11, 2, 9, tzinfo=UTC))
    pump = _pump(NOISY_LOG_ENTRIES, clock)
    programmer = SimulatedProgrammer([pump], clock=clock, faults=faults, baudrate=BAUD)
    floor, ceiling = pages
    sizes = AdaptivePageSize(floor=floor, ceiling=ceiling)
    client = ProgrammerClient(SimulatorTransport(programmer=programmer, clock=clock), clock=clock, log_pages=sizes)
    started = clock.monotonic()
    try:
        client.link()
        client.status()
        completed = len(client.read_log(0).entries) == NOISY_LOG_ENTRIES
    except DriverError:
        completed = False
    return completed, clock.monotonic() - started, len(programmer.log_reads)


def _noisy_figures() -> list[Result]:
    results: list[Result] = []
    for noise, plan in NOISE.items():
        seeds = NOISY_SEEDS if noise != "clean" else 1
        for mode, pages in PAGES.items():
            runs = [_noisy_interrogation(plan(seed), pages) for seed in range(seeds)]
            done = [run for run in runs if run[0]]
            # "200": the full run's log; a smoke run's figures keep the name
            prefix = f"link.interrogation_200_{noise}" + ("" if noise == "clean" else "_1e-3")
            prefix += f"_{mode}"
            results.append(Result(f"{prefix}_completed", 100.0 * len(done) / len(runs), "%", True))
            if done:
                seconds = sum(run[1] for run in done) / len(done)
                requests = sum(run[2] for run in done) / len(done)
                results.append(Result(f"{prefix}_mean_time", seconds, "s (virtual)", False))
                results.append(Result(f"{prefix}_page_requests", requests, "requests", False))
    return results


def _round_trips(count: int = ROUND_TRIPS) -> float:
    server = serve_pty(_programmer(0, None))
    with server, ProgrammerClient(open_transport(server.address, clock=CLOCK), clock=CLOCK) as client:
        client.link()
        started = time.perf_counter()
        for _ in range(count):
            client.status()
        return count / (time.perf_counter() - started)


def _log_download() -> tuple[float, float, float]:
    programmer = _programmer(LOG_ENTRIES, BAUD)
    server = serve_pty(programmer)
    with server, ProgrammerClient(open_transport(server.address, clock=CLOCK, baudrate=BAUD), clock=CLOCK) as client:
        client.link()
        before = programmer.bytes_received + programmer.bytes_sent
        started = time.perf_counter()
        log = client.read_log(0)
        elapsed = time.perf_counter() - started
    if len(log.entries) != LOG_ENTRIES:  # a bench that read less would report a lie
        raise RuntimeError(f"downloaded {len(log.entries)} of {LOG_ENTRIES} log entries")
    wire = (programmer.bytes_received + programmer.bytes_sent - before) * 10 / BAUD
    return elapsed, wire, 100.0 * (elapsed - wire) / wire


def run() -> list[Result]:
    elapsed, wire, overhead = _log_download()
    return [
        Result("link.pty_status_round_trips", _round_trips(), "round trips/s", True),
        Result("link.log_8192_download_at_115200", elapsed, "s", False),
        Result("link.log_8192_wire_time_at_115200", wire, "s", False),
        Result("link.log_8192_overhead_over_wire_time", overhead, "%", False),
        *_noisy_figures(),
    ]
