"""The event loop: the clock jumps from event to event, and the real scheduler decides at its moments.

Events are the nurses' visits (at the booked times, or late), trace samples, and the scheduler's
next pending decision (:func:`testbench.scheduler_wakeup.scheduler_wakeup`, rounded up to the
tick grid). After every tick the front desk reads the overdue escalations it raised: a patient
who did not come is recorded as a no-show (the service rebooks); a patient who phoned to say
they come late is waited for. A visit that recorded nothing (a hard stop, a dead link) is
cancelled at once and rebooked by the service.
"""

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import select

from pump_service.errors import ConflictError
from pump_service.persistence.db import read_transaction, transaction
from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import Notification
from pump_service.scheduler.runner import RefillScheduler
from pump_service.services.scheduling.booking import active_appointment, cancel_appointment
from schemas.clock import Clock
from schemas.prescription import ContinuousPrescription
from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model
from simulators.constant_flow import SimulatedConstantFlowPump
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from testbench.clinic_config import ClinicConfig
from testbench.clinic_nurse import SimulatedPump, VisitStatus, perform_visit
from testbench.clinic_population import Attendance, PatientPlan, attendance_for
from testbench.clinic_service import ClinicService
from testbench.clinic_truth import NoteKind, PumpTruth
from testbench.scheduler_wakeup import scheduler_wakeup

__all__ = ["LoopTally", "run_loop", "simulated_pump_for"]

DAY = timedelta(days=1)
RESIDUAL_BEFORE_RUN_ML = 2.5  # what the fill before the run left when the first visit comes


class _EventKind(StrEnum):
    VISIT = "visit"
    SAMPLE = "sample"


@dataclass
class LoopTally:
    """What the loop counted itself (the rest is read back from the database)."""

    hard_stops: int = 0
    overridden: int = 0
    link_failures: int = 0
    visit_attempts: int = 0
    ticks: int = 0
    finding_counts: Counter[str] = field(default_factory=Counter)  # scored visits' finding codes, for diagnosis
    truths: dict[str, PumpTruth] = field(default_factory=dict)


def simulated_pump_for(plan: PatientPlan, *, clock: Clock, programmer: SimulatedProgrammer) -> SimulatedPump:
    """The simulated pump of ``plan`` as it is at the clock's time; a programmable one joins the programmer."""
    model = get_pump_model(plan.model_id)
    if plan.family is PumpFamily.PROGRAMMABLE:
        pump = SimulatedProgrammablePump(
            model,
            clock=clock,
            serial=plan.serial,
            accuracy_factor=plan.unit_factor,
            volume_ml=RESIDUAL_BEFORE_RUN_ML,
            prescription=ContinuousPrescription(rate_ml_per_day=plan.rate_ml_per_day),
            eri_at=plan.eri_at,
            faults=plan.faults,
        )
        programmer.pumps[plan.serial] = pump
        return pump
    return SimulatedConstantFlowPump(
        model,
        clock=clock,
        serial=plan.serial,
        unit_factor=plan.unit_factor,
        timeline=plan.timeline,
        faults=plan.faults,
        volume_ml=RESIDUAL_BEFORE_RUN_ML,
    )


class _Loop:
    def __init__(self, config: ClinicConfig, service: ClinicService, plans: list[PatientPlan]) -> None:
        self.config, self.service = config, service
        self.start, self.end = config.start_at, config.start_at + DAY * config.days
        self.grid = timedelta(minutes=config.tick_grid_minutes)
        self.tally = LoopTally()
        self.plans = {p.serial: p for p in plans}
        self.events: list[tuple[datetime, int, _EventKind, str, int]] = []
        self.seq = 0
        self.scheduler = RefillScheduler(service.engine, service.settings, service.clock)
        self.last_tick = self.start
        self._wake: datetime | None = None
        self._wake_known = False  # the wake-up is re-read only after the database changed
        with read_transaction(service.engine) as session:
            self.pump_ids = {p.serial: p.id or 0 for p in session.exec(select(Pump)).all()}
        self.serials = {v: k for k, v in self.pump_ids.items()}
        traced = {p.serial for p in plans[:: max(1, len(plans) // max(1, config.traced_pumps))][: config.traced_pumps]}
        self.traced = traced

    def push(self, at: datetime, kind: _EventKind, serial: str, token: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, serial, token))

    # ---- the pumps' part -------------------------------------------------------------------

    def warm_up(self) -> None:
        """The fill before the run, for every pump, at its own moment (not scored)."""
        plans = sorted(self.plans.values(), key=lambda p: -p.last_fill_days_before_start)
        for plan in plans:
            at = self.start - DAY * plan.last_fill_days_before_start
            self.service.clock.set(max(at, self.service.clock.now()))  # a link's retries may have used time
            pump = simulated_pump_for(plan, clock=self.service.clock, programmer=self.service.programmer)
            truth = PumpTruth(plan, pump, self.start, traced=plan.serial in self.traced)
            self.tally.truths[plan.serial] = truth
            self._visit(truth, key=f"clinic-{plan.serial}-warmup", scored=False)
        for serial in sorted(self.traced):
            for day in range(self.config.days + 1):
                self.push(self.start + DAY * day, _EventKind.SAMPLE, serial)

    def _visit(self, truth: PumpTruth, *, key: str, scored: bool) -> None:
        now = self.service.clock.now()
        self._wake_known = False
        outcome = perform_visit(
            self.service, truth.plan, truth.pump, key=key, max_attempts=self.config.max_visit_attempts
        )
        self.tally.visit_attempts += outcome.attempts
        truth.visited(now, outcome, scored=scored)
        if scored:
            self.tally.finding_counts.update(outcome.finding_codes)
        if scored and outcome.hard_stop:
            self.tally.hard_stops += 1
            self.tally.overridden += int(outcome.overridden)
        if outcome.status is VisitStatus.RECORDED:
            truth.filled(now, scored=scored)
        else:
            truth.note(NoteKind.HARD_STOP if outcome.status is VisitStatus.HARD_STOP else NoteKind.LINK_FAULT, now)
            self.tally.link_failures += int(outcome.status is VisitStatus.LINK_FAILED)
            self._rebook(truth, no_show=False, reason=f"refill not recorded: {outcome.status.value}")
        self._follow_booking(truth)

    def _rebook(self, truth: PumpTruth, *, no_show: bool, reason: str) -> None:
        if truth.appointment_id is None:
            return
        now = self.service.clock.now()
        try:
            with transaction(self.service.engine) as session:
                cancel_appointment(
                    session, truth.appointment_id, no_show=no_show, reason=reason, actor=self.service.front_desk,
                    now=now,
                )  # fmt: skip
        except ConflictError:
            return  # it is no longer booked (or has not started): nothing to record

    def _follow_booking(self, truth: PumpTruth) -> None:
        """Read the pump's booked appointment; schedule the patient's coming (or not) if it is new."""
        with read_transaction(self.service.engine) as session:
            booked = active_appointment(session, self.pump_ids[truth.plan.serial])
            if booked is None or booked.id == truth.appointment_id:
                return
            appointment_id, starts_at, on_time = booked.id or 0, booked.starts_at, booked.on_time
        truth.appointment_id = appointment_id
        truth.appointment_number += 1
        truth.bookings.append(starts_at)
        if not on_time:  # noted when booked: the slot itself lies after the forecast alarm
            truth.note(NoteKind.NO_SLOT, self.service.clock.now())
        attendance = attendance_for(
            truth.plan, truth.appointment_number, seed=self.config.seed, rates=self.config.rates
        )
        truth.attendance = attendance
        if attendance is Attendance.NO_SHOW:
            truth.note(NoteKind.NO_SHOW, starts_at)
            return
        at = starts_at
        if attendance is Attendance.LATE:
            truth.note(NoteKind.LATE, starts_at)
            draw = random.Random(f"{self.config.seed}:{truth.plan.serial}:late:{truth.appointment_number}")  # noqa: S311
            at = starts_at + DAY * draw.randint(1, 3)
        self.push(at, _EventKind.VISIT, truth.plan.serial, appointment_id)

    # ---- the scheduler's part ---------------------------------------------------------------

    def _next_tick(self) -> datetime | None:
        if not self._wake_known:
            self._wake = scheduler_wakeup(self.service.engine, after=self.last_tick)
            self._wake_known = True
        wake = self._wake
        if wake is None:
            return None
        steps = max(1, -(-(wake - self.start) // self.grid))
        at = self.start + self.grid * steps
        while at <= self.last_tick:
            at += self.grid
        return at

    def _tick(self, at: datetime) -> None:
        at = max(at, self.service.clock.now())
        self.service.clock.set(at)
        report = self.scheduler.tick()
        self._wake_known = False
        self.tally.ticks += 1
        self.last_tick = at
        if not report.created.get("overdue"):
            return
        with read_transaction(self.service.engine) as session:
            rows = session.exec(
                select(Notification.pump_id, Notification.appointment_id).where(
                    Notification.kind == "overdue", Notification.created_at == at
                )
            ).all()
        for pump_id, appointment_id in rows:
            truth = self.tally.truths[self.serials[pump_id]]
            if appointment_id == truth.appointment_id and truth.attendance is Attendance.NO_SHOW:
                self._rebook(truth, no_show=True, reason="the patient did not come")
                self._follow_booking(truth)

    # ---- the loop ---------------------------------------------------------------------------

    def run(self, on_progress: Callable[[float], None] | None) -> LoopTally:
        self.warm_up()
        self._tick(self.start)
        while True:
            tick_at = self._next_tick()
            event_at = self.events[0][0] if self.events else None
            upcoming = [t for t in (tick_at, event_at) if t is not None]
            if not upcoming or min(upcoming) >= self.end:
                break
            if tick_at is not None and (event_at is None or tick_at <= event_at):
                self._tick(tick_at)
            else:
                at, _, kind, serial, token = heapq.heappop(self.events)
                self.service.clock.set(max(at, self.service.clock.now()))
                truth = self.tally.truths[serial]
                if kind is _EventKind.SAMPLE:
                    truth.sample(at)
                elif token == truth.appointment_id:
                    number = truth.appointment_number
                    self._visit(truth, key=f"clinic-{serial}-{number:04d}", scored=True)
            if on_progress is not None:
                on_progress((self.service.clock.now() - self.start) / DAY)
        self.service.clock.set(max(self.end, self.service.clock.now()))
        for truth in self.tally.truths.values():
            truth.pump.sync()
            truth.finish(self.end)
        return self.tally


def run_loop(
    config: ClinicConfig,
    service: ClinicService,
    plans: list[PatientPlan],
    on_progress: Callable[[float], None] | None = None,
) -> LoopTally:
    """Run the clinic from its warm-up to the end of the span; return what the loop counted."""
    return _Loop(config, service, plans).run(on_progress)
