"""The soak drill's driver: a seeded clinic over many virtual days, with kill -9s, link faults and restarts.

The driver owns the simulated world: the patients (``generate_population``), their pumps, one
:class:`~simulators.programmer.SimulatedProgrammer` served on TCP with frame errors, dropped
answers and unplugs, and the :class:`~simulators.running_clock.RunningClock`. The service runs in
a worker process (``testbench/soak_worker.py``) that reaches the programmer with the real driver.
Events come in virtual-time order: each pump's visits at the times the service booked, and a
scheduler tick every ``tick_hours``.

Every command is sent until it is answered: the driver SIGKILLs the worker a random moment into a
command or arms a ``PUMP_CRASH_AT`` point, and (on PostgreSQL) restarts the database a moment
into a visit; a dead worker is restarted and the command resent as it was, same idempotency
key (a restart between commands is absorbed by the pool's reconnect; one during a visit
is what requests meet). Only a worker killed, a storage outage or a programmer failure is retried, at most
``max_attempts`` times; anything else (a refusal, an unexpected error, another way of dying) is
collected with its message, and the run fails with every reason it met. The store is judged
afterwards by ``testbench/soak_checks.py``.
"""

import heapq
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import IO, Any

from pump_service.services.visits.crashpoints import CRASH_POINTS
from schemas.clock import SystemClock
from schemas.pump import PumpFamily
from simulators.constant_flow import SimulatedConstantFlowPump
from simulators.link_faults import LinkFaultPlan
from simulators.programmer import SimulatedProgrammer
from simulators.running_clock import RunningClock
from simulators.serve import ProgrammerServer, serve_tcp
from testbench.clinic_config import ClinicConfig, ClinicRates
from testbench.clinic_loop import simulated_pump_for
from testbench.clinic_nurse import (
    OVERRIDE_REASON,
    SYRINGE_RESOLUTION_ML,
    SimulatedPump,
    fill_volume_ml,
    visit_entry,
)
from testbench.clinic_population import generate_population
from testbench.clinic_service import open_service
from testbench.soak_process import WorkerDiedError, WorkerProcess

__all__ = ["AcknowledgedVisit", "SoakConfig", "SoakFailure", "SoakRun", "SoakTally", "run_soak"]

COMMAND_TIMEOUT_S = 120.0
STORAGE_PAUSE_S = 0.2  # a storage outage is retried a moment later, as the HTTP clients do on a 503
RETRIED = frozenset({"device", "device_unknown", "storage"})
_real = SystemClock()


class SoakFailure(AssertionError):  # noqa: N818 - reported by pytest like a failed assertion
    """The drill met something it does not retry, or a command stayed unanswered: with every reason seen."""


@dataclass(frozen=True, slots=True)
class SoakConfig:
    """One seeded run; the rates are per command sent (an attempt), the link's per frame."""

    days: int = 30
    programmable: int = 6
    constant_flow: int = 3
    seed: int = 1
    tick_hours: int = 6
    kill_rate: float = 0.2  # a visit or co-signature attempt: SIGKILL a random moment into it
    tick_kill_rate: float = 0.02
    crash_rate: float = 0.15  # a visit attempt: one PUMP_CRASH_AT point armed
    unplug_rate: float = 0.08  # a visit attempt: the programmer's cable pulled a few frames in
    frame_error_rate: float = 0.01
    drop_response_rate: float = 0.01
    db_restart_rate: float = 0.0  # a visit attempt: the database restarted (PostgreSQL) a moment into it
    kill_window_s: float = 1.2  # a visit takes about a second of real time over TCP (the LINK alone 0.5 s)
    max_attempts: int = 40
    # The first programmable visits each meet one fault in turn (a SIGKILL, an unplug, a database
    # restart, then each crash point), so every run has each kind however the draws fall.
    forced_faults: bool = True


@dataclass
class SoakTally:
    """What the driver did and saw."""

    commands: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    kills: int = 0  # SIGKILLs the driver sent that hit a running worker
    crash_kills: int = 0  # workers that died at an armed PUMP_CRASH_AT point
    db_restarts: int = 0
    unplugs: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # answers that were not ok, by kind
    overrides: int = 0
    refused: list[str] = field(default_factory=list)  # visits not recorded, with the answer's reason


@dataclass(frozen=True, slots=True)
class AcknowledgedVisit:
    """A visit the service answered ok: the command as last sent and the result it returned."""

    serial: str
    key: str
    command: dict[str, Any]
    result: dict[str, Any]
    programmable: bool


@dataclass
class SoakRun:
    """The run's outcome for the checks: what was acknowledged, the programmer, and the figures."""

    config: SoakConfig
    settings_json: str
    programmer: SimulatedProgrammer
    tally: SoakTally
    acknowledged: list[AcknowledgedVisit]
    unrecorded_keys: set[str]
    first_event_at: datetime
    end_at: datetime
    ticks: int = 0
    wall_s: float = 0.0


class _Event(StrEnum):
    VISIT = "visit"
    TICK = "tick"


class _Forced(StrEnum):
    """A fault given to the first attempt of a programmable visit, before any drawn at random."""

    KILL = "kill"
    UNPLUG = "unplug"
    DB_RESTART = "db_restart"


FORCED_DELAY_S = 0.1  # into a programmable visit: its LINK alone takes 0.5 s, so the fault lands mid-command
FORCED_UNPLUG_FRAMES = 2  # frames of the visit before the cable is pulled


def _clinic_config(config: SoakConfig) -> ClinicConfig:
    # The drill is about the station's infrastructure: no pump faults or battery ends to judge.
    rates = ClinicRates(
        occlusion_per_year=0.0,
        leak_per_year=0.0,
        pocket_fill_per_year=0.0,
        precipitate_per_year=0.0,
        battery_eri_within_run=0.0,
        programmer_frame_error_rate=0.0,
        programmer_drop_rate=0.0,
    )
    return ClinicConfig(
        days=config.days,
        programmable=config.programmable,
        constant_flow=config.constant_flow,
        seed=config.seed,
        rates=rates,
    )


class _SpareWorker:
    """A worker started ahead, in the background: a restart after a kill takes it instead of waiting ~2 s of imports."""

    def __init__(self, settings_json: str, log: IO[str]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soak-spare")
        self._start = partial(self._pool.submit, WorkerProcess, settings_json, log)
        self._next: Future[WorkerProcess] = self._start()

    def take(self) -> WorkerProcess:
        """The spare (waiting for it if it is still starting; its start-up error raised here); another follows."""
        made, self._next = self._next, self._start()
        return made.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._next.exception() is None:
            self._next.result().close()


class _Driver:
    def __init__(
        self, config: SoakConfig, database_url: str, restart_database: Callable[[], None] | None, log: IO[str]
    ) -> None:
        self.config, self.log, self.restart_database = config, log, restart_database
        clinic = _clinic_config(config)
        self.plans = {p.serial: p for p in generate_population(clinic)}
        service = open_service(clinic, list(self.plans.values()), database_url=database_url, run_id=uuid.uuid4().hex)
        service.engine.dispose()
        s = service.settings
        self.settings_json = s.model_dump_json(
            include={"database_url", "station_id", "clinic_capacity_per_day", "clinic_slot_minutes"}
        )
        self.start, self.end = clinic.start_at, clinic.start_at + timedelta(days=config.days)
        self.clock = RunningClock(service.clock.now())
        self.rng = random.Random(config.seed)  # noqa: S311 - a seeded drill
        faults = LinkFaultPlan(
            seed=config.seed, frame_error_rate=config.frame_error_rate, drop_response_rate=config.drop_response_rate
        )
        constant_flow = [p.serial for p in self.plans.values() if p.family is PumpFamily.CONSTANT_FLOW]
        self.programmer = SimulatedProgrammer((), clock=self.clock, constant_flow_serials=constant_flow, faults=faults)
        self.server: ProgrammerServer = serve_tcp(self.programmer)
        self.pumps: dict[str, SimulatedPump] = {}
        self.visits_done: Counter[str] = Counter()
        self.events: list[tuple[datetime, int, _Event, str]] = []
        self.seq = 0
        self.tally = SoakTally()
        self.acknowledged: list[AcknowledgedVisit] = []
        self.unrecorded: set[str] = set()
        self.ticks = 0
        self.worker = WorkerProcess(self.settings_json, log)
        self._spare = _SpareWorker(self.settings_json, log)
        self._killed_by_us = False
        self.forced: list[str] = []
        if config.forced_faults:
            self.forced = [_Forced.KILL, _Forced.UNPLUG]
            self.forced += [_Forced.DB_RESTART] if restart_database is not None else []
            self.forced += sorted(CRASH_POINTS)  # the last ones may not come in a short run: crash draws do too

    def push(self, at: datetime, kind: _Event, serial: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, serial))

    # ---- one command, resent until answered ------------------------------------------------------

    def _restart_worker(self) -> None:
        self.worker.kill9()
        self.worker = self._spare.take()

    def _replug_if_pulled(self) -> None:
        if self.programmer.unplugged or not self.server.serving:
            self.server.stop()
            self.programmer.replug()
            self.server = serve_tcp(self.programmer)

    def _kill_in_flight(self) -> None:
        self._killed_by_us = self.worker.kill9()

    def _restart_db(self, delay_s: float) -> None:
        _real.sleep(delay_s)
        if self.restart_database is not None:
            self.restart_database()
            self.tally.db_restarts += 1

    def _forced_fault(self, sent: dict[str, Any]) -> list[threading.Thread | threading.Timer]:
        """The next forced fault on this attempt (``sent`` gets its crash point); its timers."""
        forced = self.forced.pop(0)
        if forced == _Forced.KILL:
            return [threading.Timer(FORCED_DELAY_S, self._kill_in_flight)]
        if forced == _Forced.UNPLUG:
            self.programmer.faults.unplug_after_frames = self.programmer.frames_received + FORCED_UNPLUG_FRAMES
            return []
        if forced == _Forced.DB_RESTART:
            return [threading.Thread(target=self._restart_db, args=(FORCED_DELAY_S,))]
        sent["crash_at"] = forced
        return []

    def _faults_for(
        self, command: dict[str, Any], attempt: int
    ) -> tuple[dict[str, Any], list[threading.Thread | threading.Timer]]:
        """The attempt as sent (its moment, the programmer's address, maybe a crash point) and its fault timers."""
        cfg, op = self.config, command["op"]
        sent = {**command, "at": self.clock.now().isoformat(), "device": self.server.address}
        programmable = op == "visit" and self.plans[command["serial"]].family is PumpFamily.PROGRAMMABLE
        if programmable and attempt == 1 and self.forced:
            return sent, self._forced_fault(sent)
        if op == "visit" and self.rng.random() < cfg.crash_rate:
            sent["crash_at"] = self.rng.choice(sorted(CRASH_POINTS))
        if op == "visit" and self.rng.random() < cfg.unplug_rate:
            self.programmer.faults.unplug_after_frames = self.programmer.frames_received + self.rng.randint(1, 12)
        timers: list[threading.Thread | threading.Timer] = []
        if self.rng.random() < (cfg.tick_kill_rate if op == "tick" else cfg.kill_rate):
            timers.append(threading.Timer(self.rng.uniform(0.0, cfg.kill_window_s), self._kill_in_flight))
        # Only during a visit: a tick is over in milliseconds, so a restart "during" one would land after it.
        if op == "visit" and self.restart_database is not None and self.rng.random() < cfg.db_restart_rate:
            delay = self.rng.uniform(0.0, cfg.kill_window_s / 2)
            timers.append(threading.Thread(target=self._restart_db, args=(delay,)))
        return sent, timers

    def run_command(self, command: dict[str, Any], what: str) -> dict[str, Any]:
        """Send ``command`` until it is answered; return the answer (ok, or a failure not retried).

        Raises:
            SoakFailure: the worker died another way than by a SIGKILL, or no answer after ``max_attempts``.
        """
        reasons: list[str] = []
        self.tally.commands[command["op"]] += 1
        for attempt in range(1, self.config.max_attempts + 1):
            self._replug_if_pulled()
            sent, timers = self._faults_for(command, attempt)
            self._killed_by_us = False
            self.tally.attempts += 1
            self.worker.send(sent)
            for timer in timers:
                timer.start()
            try:
                answer: dict[str, Any] | None = self.worker.answer(COMMAND_TIMEOUT_S)
            except WorkerDiedError as died:
                answer = None
                if died.returncode != -9:
                    raise SoakFailure(f"{what}: the worker died with {died.returncode} (see the worker log)") from died
            finally:
                for timer in timers:
                    if isinstance(timer, threading.Timer):
                        timer.cancel()
                    timer.join()
                self.programmer.faults.unplug_after_frames = None  # an unplug not reached is not kept for later
            if self._killed_by_us:
                self.tally.kills += 1
            if answer is None:
                if not self._killed_by_us:
                    self.tally.crash_kills += 1
                reasons.append(f"attempt {attempt}: killed ({'SIGKILL' if self._killed_by_us else sent['crash_at']})")
            if self.worker.process.poll() is not None:
                self._restart_worker()  # killed mid-command, or just after it answered
            if answer is None:
                continue
            if answer["ok"]:
                return answer
            kind = str(answer["kind"])
            self.tally.failures[kind] += 1
            reasons.append(f"attempt {attempt}: {kind} {answer.get('type')}: {answer.get('message')}")
            if kind not in RETRIED:
                self.log.write(f"{what}: not retried: {answer}\n")
                return answer
            if kind == "storage":
                _real.sleep(STORAGE_PAUSE_S)
        raise SoakFailure(f"{what}: no answer after {self.config.max_attempts} attempts:\n" + "\n".join(reasons))

    # ---- the clinic's events -------------------------------------------------------------------

    def visit(self, serial: str) -> None:
        plan = self.plans[serial]
        pump = self.pumps.get(serial)
        if pump is None:  # its first visit: the pump as the fill before the run left it
            pump = self.pumps[serial] = simulated_pump_for(plan, clock=self.clock, programmer=self.programmer)
        self.visits_done[serial] += 1
        key = f"soak-{self.config.seed}-{serial}-{self.visits_done[serial]:03d}"
        programmable = plan.family is PumpFamily.PROGRAMMABLE
        aspiration = pump.aspirate(resolution_ml=SYRINGE_RESOLUTION_ML[plan.family])
        fill_ml = fill_volume_ml(plan, pump.model.capacity_ml, aspiration.left_in_pump_ml)
        entry = visit_entry(plan, key, self.clock.now().isoformat(), aspiration.measured_ml, fill_ml)
        if programmable:
            signed = self.run_command({"op": "cosign", "serial": serial, "fill_ml": fill_ml}, f"co-signature {key}")
            if not signed["ok"]:
                self._not_recorded(pump, key, aspiration.removed_ml, signed)
                return
            entry["cosignatures"] = [signed["cosignature_id"]]
        command: dict[str, Any] = {"op": "visit", "serial": serial, "actor": "nurse", "entry": entry}
        answer = self.run_command(command, f"visit {key}")
        if not answer["ok"] and answer["kind"] == "hard_stop" and answer["overridable"]:
            entry["override"] = {"reason": OVERRIDE_REASON, "codes": answer["codes"]}
            command["actor"] = "physician"  # the physician reviews the discrepancy and overrides it
            self.tally.overrides += 1
            answer = self.run_command(command, f"visit {key} (overridden)")
        if not answer["ok"]:
            self._not_recorded(pump, key, aspiration.removed_ml, answer)
            return
        result = answer["result"]
        self.acknowledged.append(AcknowledgedVisit(serial, key, command, result, programmable))
        if isinstance(pump, SimulatedConstantFlowPump):
            pump.fill(fill_ml)
        else:
            pump.inject(fill_ml)
        booked = result.get("appointment")
        if booked is not None:
            self.push(datetime.fromisoformat(booked["starts_at"]), _Event.VISIT, serial)

    def _not_recorded(self, pump: SimulatedPump, key: str, removed_ml: float, answer: dict[str, Any]) -> None:
        self.tally.refused.append(f"{key}: {answer.get('kind')} {answer.get('type')}: {answer.get('message')}")
        self.unrecorded.add(key)
        if isinstance(pump, SimulatedConstantFlowPump):
            pump.fill(removed_ml)  # the old fill goes back: nothing was recorded
        else:
            pump.inject(removed_ml)

    def tick(self) -> None:
        answer = self.run_command({"op": "tick"}, f"tick at {self.clock.now().isoformat()}")
        self.ticks += 1
        if not answer["ok"]:
            raise SoakFailure(f"a tick was refused: {answer}")

    def run(self) -> SoakRun:
        started = _real.monotonic()
        for plan in self.plans.values():
            self.push(self.start - timedelta(days=plan.last_fill_days_before_start), _Event.VISIT, plan.serial)
        first = min(at for at, *_ in self.events)
        at = self.start
        while at < self.end:
            self.push(at, _Event.TICK)
            at += timedelta(hours=self.config.tick_hours)
        try:
            while self.events and self.events[0][0] < self.end:
                at, _, kind, serial = heapq.heappop(self.events)
                self.clock.set(at)
                if kind is _Event.TICK:
                    self.tick()
                else:
                    self.visit(serial)
        finally:
            self.worker.close()
            self._spare.close()
            self.server.stop()
        self.tally.unplugs = self.programmer.faults.injected.unplugs
        return SoakRun(
            self.config,
            self.settings_json,
            self.programmer,
            self.tally,
            self.acknowledged,
            self.unrecorded,
            first,
            self.end,
            ticks=self.ticks,
            wall_s=_real.monotonic() - started,
        )


def run_soak(
    config: SoakConfig, database_url: str, *, log_path: Path, restart_database: Callable[[], None] | None = None
) -> SoakRun:
    """Run the drill on ``database_url`` (empty: it is migrated here); the workers' stderr goes to ``log_path``."""
    with log_path.open("a") as log:
        return _Driver(config, database_url, restart_database, log).run()
