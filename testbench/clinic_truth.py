"""The truth of each pump over the run, kept beside the service (which only sees what nurses measure).

At every fill the ledger predicts, from the simulated pump itself (a copy run forward, for a
constant-flow pump whose flow follows the patient's conditions and faults), when the true volume
will reach the alarm volume and when it will run dry. The next refill (or the end of the run)
closes the interval: an alarm or a dry pump before it is an incident, explained by what the loop
noted in the interval (a no-show, a late arrival, a hard stop, a link fault, a fault, a booking
the calendar could not place in time), or else by the forecast.
"""

import copy
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.pump import PumpFamily
from simulators.constant_flow import PumpEventKind, SimulatedConstantFlowPump
from simulators.programmable import SimulatedProgrammablePump
from simulators.pump_faults import Occlusion, PocketFill, PumpFault
from testbench.clinic_effects import Baselines, Contributions, detectable_ml
from testbench.clinic_nurse import SimulatedPump, VisitOutcome
from testbench.clinic_population import Attendance, PatientPlan, fault_kind
from testbench.score import FaultOutcome, Incident, IncidentCause, IncidentKind

__all__ = ["DETECTION_CODES", "Note", "NoteKind", "PumpTruth"]

DAY = timedelta(days=1)
# Findings that say "this pump does not deliver what it should": a fault flagged.
DETECTION_CODES = frozenset(
    {
        "flow_deviation",
        "flow_alert",
        "volume_discrepancy_warning",
        "volume_discrepancy",
        "pocket_fill_warning",
        "pocket_fill_suspected",
        "implausible_flow",
        # nothing came back from a pump that should hold a residual: the pump ran dry or the fill went astray
        "needle_placement_unconfirmed",
    }
)


class NoteKind(StrEnum):
    NO_SHOW = "no_show"
    LATE = "late"
    HARD_STOP = "hard_stop"
    LINK_FAULT = "link_fault"
    NO_SLOT = "no_slot"  # the booking could not be placed before the forecast alarm


@dataclass(frozen=True, slots=True)
class Note:
    kind: NoteKind
    at: datetime


@dataclass
class _Fault:
    fault: PumpFault
    effective_at: datetime | None  # a pocket fill takes effect at the fill that used it
    next_visit_at: datetime | None = None  # the visit that judged it: the first that flagged it, or could have
    flagged_codes: tuple[str, ...] = ()
    explanation: str = ""  # why a judged fault went unflagged, or why it was never measurable

    def in_effect(self, since: datetime, at: datetime) -> bool:
        """Whether it changed the delivery between the fill at ``since`` and the visit at ``at``."""
        if self.effective_at is None or self.effective_at >= at:
            return False
        if isinstance(self.fault, PocketFill):  # it took one fill: only the interval after that fill
            return self.effective_at >= since
        end = self.fault.end_at if isinstance(self.fault, Occlusion) else None
        return end is None or end > since


@dataclass
class PumpTruth:
    """One pump's truth: its simulator, the open interval since its last fill, and what was seen."""

    plan: PatientPlan
    pump: SimulatedPump
    start_at: datetime
    traced: bool = False
    last_fill_at: datetime | None = None
    alarm_at: datetime | None = None  # when the true volume reaches the alarm volume (prediction at the fill)
    dry_at: datetime | None = None
    notes: list[Note] = field(default_factory=list)
    appointment_id: int | None = None
    appointment_number: int = 0
    attendance: Attendance = Attendance.ON_TIME
    bookings: list[datetime] = field(default_factory=list)
    refills: list[datetime] = field(default_factory=list)
    samples: list[tuple[datetime, float]] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    false_alarms: int = 0
    false_alarm_causes: Counter[str] = field(default_factory=Counter)
    faults: list[_Fault] = field(default_factory=list)
    baselines: Baselines | None = None  # constant-flow: the counterfactual twins since the last fill
    pocket_ml: float = 0.0  # what the last fill put into the pocket
    last_outcome: VisitOutcome | None = None

    def __post_init__(self) -> None:
        self.faults = [_Fault(f, None if isinstance(f, PocketFill) else f.start_at) for f in self.plan.faults]

    # ---- what the loop tells it ----------------------------------------------------------------

    def true_volume_ml(self) -> float:
        self.pump.sync()
        return self.pump.volume_ml if isinstance(self.pump, SimulatedConstantFlowPump) else self.pump.true_ml

    def sample(self, at: datetime) -> None:
        self.samples.append((at, self.true_volume_ml()))

    def note(self, kind: NoteKind, at: datetime) -> None:
        self.notes.append(Note(kind, at))

    def visited(self, at: datetime, outcome: VisitOutcome, *, scored: bool) -> None:
        """A visit (recorded or not) showed ``outcome``'s findings: faults flagged, or a false alarm.

        A fault is judged at the first visit that flagged it or whose return it measurably changed
        (:mod:`testbench.clinic_effects`); one that started too late in an interval to move the
        return waits for the next visit. A flag with no fault in effect is a false alarm, counted
        by its main cause (flow spread, a fever or flight, the syringe's rounding).
        """
        self.last_outcome = outcome
        flagged = tuple(sorted(DETECTION_CODES.intersection(outcome.finding_codes)))
        since = self.last_fill_at or self.start_at
        active = [f for f in self.faults if f.in_effect(since, at)]
        parts = self._contributions(at, outcome)
        threshold = self._detectable_ml(since, at)
        for fault in active:
            if fault.next_visit_at is not None:
                continue
            # A programmable pump's only injected fault is a pocket fill: it moved the return by its share.
            moved = abs(parts.faults_ml) if parts is not None else self.pocket_ml
            if flagged or moved > threshold:
                fault.next_visit_at, fault.flagged_codes = at, flagged
                fault.explanation = "" if flagged else self._why_missed(at, parts, threshold)
            else:
                fault.explanation = (
                    f"not measurable by day {(at - self.start_at) / DAY:.1f}: it moved the return "
                    f"{moved:.2f} mL, the check sees {threshold:.2f} mL"
                )
        if scored and flagged and not active:
            self.false_alarms += 1
            self.false_alarm_causes[self._false_alarm_cause(since, at, parts)] += 1

    def _contributions(self, at: datetime, outcome: VisitOutcome) -> Contributions | None:
        if self.baselines is None:
            return None
        return self.baselines.at_visit(at, true_ml=outcome.true_residual_ml, measured_ml=outcome.returned_ml)

    def _detectable_ml(self, since: datetime, at: datetime) -> float:
        model = self.pump.model
        return detectable_ml(
            constant_flow=self.plan.family is PumpFamily.CONSTANT_FLOW,
            days=(at - since) / DAY,
            labelled_rate_ml_per_day=self.plan.rate_ml_per_day,
            pocket_threshold_ml=model.pocket_fill_threshold_ml,
        )

    def _episodes(self, since: datetime, at: datetime) -> tuple[str, ...]:
        kinds = {e.kind for e in self.plan.timeline.episodes if e.end_at > since and e.start_at < at}
        return tuple(sorted(kinds))

    def _why_missed(self, at: datetime, parts: Contributions | None, threshold: float) -> str:
        what = parts.describe() if parts is not None else "no counterfactual"
        day = (at - self.start_at) / DAY
        return f"measurable at day {day:.1f} (the check sees {threshold:.2f} mL) but not flagged: {what}"

    def _false_alarm_cause(self, since: datetime, at: datetime, parts: Contributions | None) -> str:
        if parts is None:
            return "programmable_register"
        return parts.main_cause(self._episodes(since, at))

    def filled(self, at: datetime, *, scored: bool) -> None:
        """A refill was recorded at ``at`` and the new fill injected: close the interval, predict the next."""
        if self.last_fill_at is not None:
            self._close(at, refilled=True)
        # One pending pocket fill takes this fill, the first in order (as the simulator's pocket_share picks it);
        # a second one waits for the next fill.
        for fault in self.faults:
            if isinstance(fault.fault, PocketFill) and fault.effective_at is None and fault.fault.start_at <= at:
                fault.effective_at = at
                break
        if scored:
            self.refills.append(at)
        self.last_fill_at, self.notes = at, []
        self.alarm_at, self.dry_at = self._predict(at)
        self.pocket_ml = self._pocket_of_fill(at)
        if isinstance(self.pump, SimulatedConstantFlowPump):
            self.baselines = Baselines(self.pump, self.pocket_ml)

    def _pocket_of_fill(self, at: datetime) -> float:
        fill = self.last_outcome.fill_ml if self.last_outcome is not None else 0.0
        return sum(
            f.fault.fraction * fill for f in self.faults if isinstance(f.fault, PocketFill) and f.effective_at == at
        )

    def finish(self, at: datetime) -> None:
        """The run ends: an alarm or a dry pump in the open interval still counts."""
        if self.last_fill_at is not None:
            self._close(at, refilled=False)

    # ---- the physics ---------------------------------------------------------------------------

    def _predict(self, at: datetime) -> tuple[datetime | None, datetime | None]:
        pump, low = self.pump, self.pump.model.low_reservoir_ml
        if isinstance(pump, SimulatedProgrammablePump):
            rate = pump.prescription.mean_rate_ml_per_day() * pump.accuracy_factor
            if rate <= 0:
                return None, None
            return at + DAY * (max(0.0, pump.true_ml - low) / rate), at + DAY * (pump.true_ml / rate)
        ahead = copy.copy(pump)  # advance_to rebinds the scalars; only the event list is shared
        ahead.events = []
        horizon = at + DAY * (4 * pump.model.capacity_ml / max(pump.rate_ml_per_day * pump.unit_factor, 1e-3))
        ahead.advance_to(horizon)
        alarm = next((e.at for e in ahead.events if e.kind is PumpEventKind.RESIDUAL_FLOOR), None)
        dry = next((e.at for e in ahead.events if e.kind is PumpEventKind.DRY), None)
        if alarm is None and pump.volume_ml <= low:
            alarm = at
        return alarm, dry

    def _close(self, at: datetime, *, refilled: bool) -> None:
        start = self.last_fill_at
        if start is None:
            return
        if refilled and self.alarm_at is not None and start >= self.start_at and self.alarm_at > start:
            self.fractions.append((at - start) / (self.alarm_at - start))
        for kind, when in ((IncidentKind.ALARM_BEFORE_REFILL, self.alarm_at), (IncidentKind.DRY, self.dry_at)):
            if when is not None and self.start_at <= when < at:
                cause, detail = self._cause(when)
                day = (when - self.start_at) / DAY
                self.incidents.append(Incident(self.plan.serial, kind, round(day, 3), cause, detail))

    def _cause(self, when: datetime) -> tuple[IncidentCause, str]:
        def day(moment: datetime) -> str:
            return f"day {(moment - self.start_at) / DAY:.1f}"

        # Only what happened by the incident explains it (a no-show after the pump alarmed did not cause it).
        by_kind = {n.kind: n for n in reversed(self.notes) if n.at <= when}
        order = (
            (NoteKind.NO_SHOW, IncidentCause.NO_SHOW, "no-show"),
            (NoteKind.LATE, IncidentCause.LATE_ARRIVAL, "late arrival after the booked"),
            (NoteKind.HARD_STOP, IncidentCause.HARD_STOP, "hard stop, refill not recorded"),
            (NoteKind.LINK_FAULT, IncidentCause.LINK_FAULT, "programmer link failed"),
        )
        for kind, cause, text in order:
            if kind in by_kind:
                return cause, f"{text} on {day(by_kind[kind].at)}"
        faults = [f for f in self.faults if f.effective_at is not None and f.effective_at < when]
        if faults:
            first = faults[0]
            return IncidentCause.FAULT, f"{fault_kind(first.fault)} since {day(first.effective_at or when)}"
        if NoteKind.NO_SLOT in by_kind:
            return (
                IncidentCause.CAPACITY,
                f"no slot before the forecast alarm (booking made {day(by_kind[NoteKind.NO_SLOT].at)})",
            )
        booked = self.bookings[-1] if self.bookings else None
        what = f"booked {day(booked)}" if booked is not None else "no booking"
        return IncidentCause.FORECAST, f"forecast missed: {what}, true alarm {day(when)}"

    # ---- the report's view ---------------------------------------------------------------------

    def fault_outcomes(self) -> list[FaultOutcome]:
        outcomes = []
        for f in self.faults:
            if f.effective_at is None or f.next_visit_at is None:
                continue  # not in effect yet, or no visit since that could have flagged it
            detected = f.next_visit_at if f.flagged_codes else None
            outcomes.append(
                FaultOutcome(
                    serial=self.plan.serial,
                    kind=fault_kind(f.fault),
                    injected_day=round((f.effective_at - self.start_at) / DAY, 3),
                    detected_day=None if detected is None else round((detected - self.start_at) / DAY, 3),
                    finding_codes=f.flagged_codes,
                    explanation=f.explanation,
                )
            )
        return outcomes

    def faults_not_measurable(self) -> int:
        """Faults in effect that no visit before the end could have seen (they moved no return enough)."""
        return sum(1 for f in self.faults if f.effective_at is not None and f.next_visit_at is None and f.explanation)

    @property
    def family(self) -> PumpFamily:
        return self.plan.family
