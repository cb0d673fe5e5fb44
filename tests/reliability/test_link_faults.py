"""Serial-link drill: the station's real serial path (pyserial on a pty, the real driver) against the
simulated programmer, with bytes flipped or dropped, and the cable pulled mid download and mid refill.

What it proves (issue 13, Build 3): at 1e-3 flipped or dropped bytes every interrogation of a
log that spans several pages completes (the driver asks for smaller pages after a failed one),
the stored log equals the pump's own log with no row twice; a download cut by an unplug keeps
what it stored, says where it stopped, and the next one resumes there instead of from index 0;
a refill cut by an unplug is reported as unknown and the pump's log then tells whether it landed.
Seeded; the long variant (many seeds, 1e-2) runs under ``make soak``.
"""

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from drivers import OutcomeUnknownError, ProgrammerClient, ReconciliationRequiredError, open_transport
from pump_service.devices import device_errors
from pump_service.errors import DeviceError, DeviceOutcomeUnknownError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, Pump, Refill
from pump_service.services.actor import Actor
from pump_service.services.contracts import PumpRegistration
from pump_service.services.pumps.registry import register_pump
from pump_service.services.visits.interrogation import InterrogationResult, interrogate, store_log_entries
from pump_service.settings import Settings
from schemas.clock import Clock, SystemClock
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump
from simulators.clock import ManualClock
from simulators.link_faults import LinkFaultPlan
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.programmer_commands import log_page
from simulators.serve import ProgrammerServer, serve_pty
from simulators.transport import register_programmer
from tests.services.test_visits import Station, refill_body

pytestmark = [
    pytest.mark.pty,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux ptys"),
    # What is under test is the link; the station's storing of log pages runs on both backends in
    # tests/services and tests/postgres. A second backend would double ~3 minutes of serial timeouts.
    pytest.mark.sqlite_only("the serial link is under test, not the database"),
]

CLOCK = SystemClock()
SERIAL = "SM-DRILL"
BACLOFEN = DrugInPump(name="baclofen", conc_mg_per_ml=2.0)
LOG_ENTRIES = 30  # ~150 bytes each on the wire: 2 pages of at most 4 KB on a clean line

Row = tuple[int, str, datetime, dict[str, Any]]


def _pump(log_entries: int, clock: Clock = CLOCK) -> SimulatedProgrammablePump:
    pump = SimulatedProgrammablePump(
        get_pump_model("programmable-20"),
        clock=clock,
        serial=SERIAL,
        accuracy_factor=1.0,
        volume_ml=9.0,
        prescription=ContinuousPrescription(rate_ml_per_day=0.5),
        drug=BACLOFEN,
    )
    for i in range(log_entries):
        pump.set_clock(clock.now(), request_id=f"c-{i}")
    return pump


def _register(engine: Engine, actor: Actor, clock: Clock = CLOCK) -> None:
    body = {
        "serial": SERIAL,
        "model_id": "programmable-20",
        "route": "intrathecal",
        "prescription": {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"},
    }
    with transaction(engine) as session:
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=clock.now())


def _truth(pump: SimulatedProgrammablePump) -> list[Row]:
    """The pump's own log, as the station should store it."""
    rows: list[Row] = []
    cursor, more = 0, True
    while more:
        entries, cursor, more = pump.read_log(cursor, 64)
        rows.extend((e.index, e.type.value, e.device_time_at, e.data) for e in entries)
    return rows


def _clean_pages(pump: SimulatedProgrammablePump, start: int) -> int:
    """How many full-size LOG_READ pages a clean line needs from ``start`` to the end of the log."""
    pages = 0
    while start < pump.log.next:
        start = log_page(pump, start, 64)["next"]
        pages += 1
    return pages


def _stored(engine: Engine) -> list[Row]:
    with transaction(engine) as session:
        records = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.source == "pump")).all()
        rows = [(r.log_index or 0, r.entry_type, r.device_time_at, r.data) for r in records if r.device_time_at]
    return sorted(rows, key=lambda row: row[0])


def _interrogate(engine: Engine, server: ProgrammerServer, settings: Settings, actor: Actor) -> InterrogationResult:
    return interrogate(engine, server.address, settings=settings, clock=CLOCK, actor=actor)


@dataclass
class _Rig:
    """A pump behind a noisy programmer, reached over a real pty (real time) or ``sim://`` (virtual time).

    The ``sim://`` pipe runs the same driver and station code; only the byte pipe differs, so
    many seeds cost seconds instead of the minutes HPP/1's timeouts take in real time.
    """

    clock: Clock
    pump: SimulatedProgrammablePump
    programmer: SimulatedProgrammer
    pty: bool

    def interrogate(self, engine: Engine, settings: Settings, actor: Actor) -> InterrogationResult:
        if self.pty:
            with serve_pty(self.programmer) as server:
                return interrogate(engine, server.address, settings=settings, clock=self.clock, actor=actor)
        url = f"sim://programmable-20?serial={SERIAL}&drill={uuid.uuid4().hex}"
        register_programmer(url, self.programmer)
        return interrogate(engine, url, settings=settings, clock=self.clock, actor=actor)


def _rig(engine: Engine, actor: Actor, faults: LinkFaultPlan, log_entries: int, *, pty: bool) -> _Rig:
    clock: Clock = CLOCK if pty else ManualClock(datetime(2026, 11, 2, 9, tzinfo=UTC))
    pump = _pump(log_entries, clock)
    _register(engine, actor, clock)
    return _Rig(clock, pump, SimulatedProgrammer([pump], clock=clock, faults=faults), pty)


def _check_interrogation_over_noise(
    engine: Engine, settings: Settings, actor: Actor, faults: LinkFaultPlan, log_entries: int, *, pty: bool = True
) -> SimulatedProgrammer:
    """One interrogation over a noisy link: it completes and stores exactly the pump's log."""
    rig = _rig(engine, actor, faults, log_entries, pty=pty)
    clock, pump, programmer = rig.clock, rig.pump, rig.programmer
    started_s = clock.monotonic()
    result = rig.interrogate(engine, settings, actor)
    assert (result.new_log_entries, result.skipped_log_entries, result.log_next_index) == (log_entries, 0, log_entries)
    # the reading is the pump's own, give or take what it infused (0.5 mL/d) while the log came in
    infused_ml = 0.5 * (clock.monotonic() - started_s) / 86_400
    assert result.reservoir_ml == pytest.approx(pump.status().reservoir_ml, abs=1e-3 + infused_ml)
    stored = _stored(engine)
    assert stored == _truth(pump)  # every value as the pump has it, each index once
    assert len({row[0] for row in stored}) == len(stored) == log_entries
    assert _clean_pages(pump, 0) >= 2  # several pages even at full size
    injected = programmer.faults.injected
    assert injected.flipped_bytes + injected.dropped_bytes > 0  # the line really was noisy
    sizes = [size for _, size in programmer.log_reads]
    assert sizes[0] == 64
    assert min(sizes) < 64  # a failed page was followed by a smaller one
    return programmer


def _flipped(seed: int) -> LinkFaultPlan:
    return LinkFaultPlan(seed=seed, byte_error_rate=1e-3)


def _dropped(seed: int) -> LinkFaultPlan:
    return LinkFaultPlan(seed=seed, byte_drop_rate=1e-3)


Plan = Callable[[int], LinkFaultPlan]


@pytest.mark.parametrize(
    ("seed", "plan"),
    [
        # ~90 s each in real time (HPP/1's 3 s per lost page): in make soak. make test runs the same
        # driver and station over the in-process pipe at 1e-3 below, and the unplug drills over a pty.
        pytest.param(11, _flipped, id="flipped-1e-3", marks=pytest.mark.soak),
        pytest.param(12, _dropped, id="dropped-1e-3", marks=pytest.mark.soak),
    ],
)
def test_every_interrogation_completes_at_1e_3_damaged_bytes_over_a_pty(
    engine: Engine, settings: Settings, actor: Actor, seed: int, plan: Plan
) -> None:
    _check_interrogation_over_noise(engine, settings, actor, plan(seed), LOG_ENTRIES)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("plan", [_flipped, _dropped], ids=["flipped-1e-3", "dropped-1e-3"])
def test_every_interrogation_completes_at_1e_3_damaged_bytes_in_virtual_time(
    engine: Engine, settings: Settings, actor: Actor, seed: int, plan: Plan
) -> None:
    _check_interrogation_over_noise(engine, settings, actor, plan(100 + seed), 200, pty=False)


def test_a_download_cut_by_an_unplug_resumes_where_it_stopped(engine: Engine, settings: Settings, actor: Actor) -> None:
    entries = 200
    pump = _pump(entries)
    # LINK and STATUS, then three LOG_READ pages stored; the cable is pulled halfway through the fourth.
    programmer = SimulatedProgrammer([pump], clock=CLOCK, faults=LinkFaultPlan(unplug_after_frames=6))
    _register(engine, actor)
    with serve_pty(programmer) as server, pytest.raises(DeviceError) as caught:
        _interrogate(engine, server, settings, actor)
    kept = len(_stored(engine))
    assert programmer.log_reads[0][0] == 0
    assert kept == programmer.log_reads[3][0]  # the three pages answered before the cut are all kept
    message = str(caught.value)
    assert "the link to the programmer was lost" in message
    assert f"{kept} new log entries were stored and are kept" in message
    assert f"resumes at log index {kept}" in message
    reads_before = len(programmer.log_reads)

    programmer.replug()
    with serve_pty(programmer) as server:
        result = _interrogate(engine, server, settings, actor)
    assert (result.new_log_entries, result.log_next_index) == (entries - kept, entries)
    resumed = programmer.log_reads[reads_before:]
    pages = [start for start, size in resumed if size > 1]  # size 1: the continuity check of the newest entry
    assert pages[0] == kept  # not from index 0
    assert len(pages) == _clean_pages(pump, kept)  # only the pages not yet stored
    assert min(start for start, _ in resumed) >= kept - 1
    stored = _stored(engine)
    assert stored == _truth(pump)
    assert len({row[0] for row in stored}) == entries

    # A retry that reads again from before the cursor (e.g. a page stored just before its answer
    # was acknowledged) stores nothing twice: the database's unique key skips what is there.
    again, _, _ = pump.read_log(kept - 5, 10)
    with transaction(engine) as session:
        pump_id = session.exec(select(Pump.id).where(Pump.serial == SERIAL)).one()
        assert pump_id is not None
        assert store_log_entries(session, pump_id, again, actor=actor, now=CLOCK.now()) == 0
    assert _stored(engine) == stored


def _refill(client: ProgrammerClient, request_id: str) -> None:
    client.refill(
        volume_removed_ml=8.9, volume_added_ml=19.9, drug=BACLOFEN, reservoir_after_ml=20.0, request_id=request_id
    )


@pytest.mark.parametrize("lost", ["response", "request"])
def test_a_refill_cut_by_an_unplug_is_unknown_until_the_pump_log_tells(lost: str) -> None:
    pump = _pump(0)
    # LINK, STATUS (the write rule's first step), then the REFILL: the cable goes with it.
    faults = LinkFaultPlan(unplug_after_frames=3, unplug_before_execute=lost == "request")
    programmer = SimulatedProgrammer([pump], clock=CLOCK, faults=faults)
    with serve_pty(programmer) as server:
        url = server.address
        client = ProgrammerClient(open_transport(url, clock=CLOCK), clock=CLOCK)
        client.link()
        with pytest.raises(DeviceOutcomeUnknownError) as caught, device_errors(url):
            _refill(client, "drill-refill")
        client.close()
    message = str(caught.value)
    assert "REFILL drill-refill" in message
    assert "outcome unknown" in message
    assert isinstance(caught.value.__cause__, OutcomeUnknownError)
    pending = client.pending_writes
    assert [p.request_id for p in pending] == ["drill-refill"]

    programmer.replug()
    with serve_pty(programmer) as server:
        client = ProgrammerClient(open_transport(server.address, clock=CLOCK), clock=CLOCK, pending=pending)
        client.link()
        with pytest.raises(ReconciliationRequiredError):  # nothing more is sent until the log has spoken
            _refill(client, "drill-refill-2")
        reconciliation = client.reconcile()
        after = client.status()
        client.close()
    assert reconciliation is not None
    landed = lost == "response"
    assert reconciliation.landed is landed
    assert [cmd for cmd, _ in programmer.executed] == (["REFILL"] if landed else [])
    if landed:
        assert reconciliation.entry is not None
        assert reconciliation.entry.data["request_id"] == "drill-refill"
        assert after.reservoir_ml == pytest.approx(20.0, abs=1e-3)
    else:
        assert after.reservoir_ml == pytest.approx(9.0, abs=1e-3)
    assert client.pending_writes == ()


def _both(seed: int, rate: float) -> LinkFaultPlan:
    return LinkFaultPlan(seed=seed, byte_error_rate=rate, byte_drop_rate=rate)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(5))
def test_soak_interrogations_complete_at_1e_3_flipped_and_dropped_bytes_over_a_pty(
    engine: Engine, settings: Settings, actor: Actor, seed: int
) -> None:
    _check_interrogation_over_noise(engine, settings, actor, _both(1000 + seed, 1e-3), 100)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(50))
def test_soak_interrogations_complete_at_1e_3_flipped_and_dropped_bytes_in_virtual_time(
    engine: Engine, settings: Settings, actor: Actor, seed: int
) -> None:
    _check_interrogation_over_noise(engine, settings, actor, _both(1100 + seed, 1e-3), 300, pty=False)


@pytest.mark.soak
@pytest.mark.parametrize(
    ("pty", "seed"),
    [pytest.param(True, seed, id=f"pty-{seed}") for seed in range(3)]
    + [pytest.param(False, seed, id=f"virtual-{seed}") for seed in range(20)],
)
def test_soak_at_1e_2_nothing_wrong_or_twice_is_stored(
    engine: Engine, settings: Settings, actor: Actor, seed: int, pty: bool
) -> None:
    """At 1e-2 a STATUS (~650 bytes) survives one attempt with p ≈ 0.2 %: interrogations fail, but
    each failure is a clear device error and what is stored is always the pump's own log, once."""
    rig = _rig(engine, actor, _both(2000 + seed, 1e-2), 100, pty=pty)
    truth = {row[0]: row for row in _truth(rig.pump)}
    for _ in range(3):
        failure: DeviceError | None = None
        try:
            rig.interrogate(engine, settings, actor)
        except DeviceError as exc:
            failure = exc
        assert failure is None or "no response after" in str(failure) or "the log download" in str(failure)
        stored = _stored(engine)
        assert all(truth[row[0]] == row for row in stored)
        assert len({row[0] for row in stored}) == len(stored)


@pytest.mark.parametrize("lost", ["response", "request"])
def test_a_refill_visit_cut_by_an_unplug_is_settled_from_the_pump_log_on_retry(
    engine: Engine, settings: Settings, actor: Actor, lost: str
) -> None:
    """The station's whole refill visit (virtual time): the unplug leaves it unknown, never recorded;
    the retry after replugging reads the pump's log, and the pump takes the refill exactly once."""
    station = Station(engine, settings, actor)
    faults = LinkFaultPlan(unplug_at_command="REFILL", unplug_before_execute=lost == "request")
    station.programmer.faults = faults
    with pytest.raises(DeviceOutcomeUnknownError, match="outcome unknown"):
        station.visit(refill_body())
    assert station.count(Refill) == 0  # nothing recorded that the pump has not confirmed
    assert [c for c, _ in station.programmer.executed] == (["REFILL"] if lost == "response" else [])
    assert faults.injected.unplugs == 1

    station.programmer.replug()
    result = station.visit(refill_body())
    assert not result.replayed
    assert [c for c, _ in station.programmer.executed] == ["REFILL"]  # once, whichever way the cut went
    assert station.count(Refill) == 1
    assert station.pump.status().reservoir_ml == pytest.approx(20.0, abs=1e-3)
