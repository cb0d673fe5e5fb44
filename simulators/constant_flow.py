"""A simulated constant-flow (propellant) pump: the truth a nurse can only measure by aspirating.

The reservoir empties through the restrictor at the model's nominal rate times this unit's
manufacturing factor, times the flow law's factor for the patient's conditions and the
infusate's viscosity, times any occlusion or precipitate; a leak adds to the outflow. Near empty
the flow tapers (the model's ``near_empty_ml``). Time is split wherever any of these change, and
each piece is integrated in closed form with the same :func:`schemas.flow_law.advance_volume` the
service uses, so the simulator and the service's expectations differ only where the physics does.

The pump advances lazily to its clock's time before every operation.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from schemas.clock import Clock
from schemas.flow_law import advance_volume, days_until_volume
from schemas.pump import PumpFamily, PumpModel
from simulators.conditions import PatientTimeline
from simulators.needle import Aspiration, aspirate, pocket_share
from simulators.pump_faults import Leak, Occlusion, PocketFill, PumpFault, RestrictorPrecipitate

__all__ = ["Aspiration", "PumpEvent", "PumpEventKind", "SimulatedConstantFlowPump", "draw_unit_factor"]

SECONDS_PER_DAY = 86_400.0
VOLUME_TOLERANCE_ML = 1e-9


class PumpEventKind(StrEnum):
    RESIDUAL_FLOOR = "residual_floor"  # reached the model's low-reservoir volume
    DRY = "dry"  # reservoir empty: delivery stopped


@dataclass(frozen=True, slots=True)
class PumpEvent:
    at: datetime
    kind: PumpEventKind


def draw_unit_factor(model: PumpModel, rng: random.Random) -> float:
    """A unit's true flow / labelled flow, uniform within the model's manufacturing spread."""
    spread = model.unit_flow_spread_pct / 100.0
    return 1.0 + rng.uniform(-spread, spread)


class SimulatedConstantFlowPump:
    """One implanted constant-flow pump on a clock, with a patient timeline and faults."""

    def __init__(
        self,
        model: PumpModel,
        *,
        clock: Clock,
        serial: str = "CF-SIM",
        seed: int = 0,
        unit_factor: float | None = None,
        rate_ml_per_day: float | None = None,
        timeline: PatientTimeline | None = None,
        faults: tuple[PumpFault, ...] = (),
        volume_ml: float = 0.0,
        relative_viscosity: float = 1.0,
    ) -> None:
        if model.family is not PumpFamily.CONSTANT_FLOW or model.nominal_rate_ml_per_day is None:
            raise ValueError(f"{model.model_id} is not a constant-flow pump")
        if not 0.0 <= volume_ml <= model.capacity_ml:
            raise ValueError(f"volume must be within 0..{model.capacity_ml} mL")
        self.model = model
        self.serial = serial
        self._clock = clock
        self._rng = random.Random(seed)
        self.unit_factor = draw_unit_factor(model, self._rng) if unit_factor is None else unit_factor
        self.rate_ml_per_day = model.nominal_rate_ml_per_day if rate_ml_per_day is None else rate_ml_per_day
        self.timeline = timeline or PatientTimeline()
        self.faults = faults
        self.volume_ml = volume_ml
        self.relative_viscosity = relative_viscosity
        self.at = clock.now()
        self.delivered_ml = 0.0
        self.leaked_ml = 0.0
        self.pocket_ml = 0.0
        self.dry_s = 0.0
        self.events: list[PumpEvent] = []
        self._used_pocket_fills: set[PocketFill] = set()

    # ---- physics -------------------------------------------------------------------------

    def delivery_rate_at(self, moment: datetime) -> float:
        """Flow into the catheter at full reservoir (mL/day) under the conditions at ``moment``."""
        conditions = self.timeline.state_at(moment).conditions(self.relative_viscosity)
        rate = self.rate_ml_per_day * self.unit_factor * self.model.flow_factor(conditions)
        for fault in self.faults:
            if isinstance(fault, Occlusion | RestrictorPrecipitate):
                rate *= fault.factor_at(moment)
        return rate

    def leak_rate_at(self, moment: datetime) -> float:
        return sum(f.rate_ml_per_day for f in self.faults if isinstance(f, Leak) and f.start_at <= moment)

    def _breakpoints(self, start: datetime, end: datetime) -> list[datetime]:
        points = set(self.timeline.changes_between(start, end))
        for fault in self.faults:
            if isinstance(fault, Occlusion):
                points.update(t for t in (fault.start_at, fault.end_at) if t is not None and start < t < end)
            elif isinstance(fault, Leak) and start < fault.start_at < end:
                points.add(fault.start_at)
            elif isinstance(fault, RestrictorPrecipitate) and fault.start_at < end:
                first_day = max(0, math.ceil((start - fault.start_at).total_seconds() / SECONDS_PER_DAY))
                day = fault.start_at + timedelta(days=first_day)
                while day < end:
                    if day > start:
                        points.add(day)
                    day += timedelta(days=1)
        return sorted(points)

    def sync(self) -> None:
        """Advance the reservoir to the clock's time."""
        self.advance_to(self._clock.now())

    def advance_to(self, moment: datetime) -> None:
        """Integrate from the last update to ``moment`` (not earlier than it).

        Raises:
            ValueError: ``moment`` is before the pump's time.
        """
        if moment < self.at:
            raise ValueError("a pump cannot run backwards in time")
        edges = [self.at, *self._breakpoints(self.at, moment), moment]
        for start, end in pairwise(edges):
            self._integrate(start, end)
        self.at = moment

    def _integrate(self, start: datetime, end: datetime) -> None:
        days = (end - start).total_seconds() / SECONDS_PER_DAY
        if days <= 0:
            return
        if self.volume_ml <= 0.0:
            self.dry_s += days * SECONDS_PER_DAY
            return
        deliver, leak = self.delivery_rate_at(start), self.leak_rate_at(start)
        total = deliver + leak
        knee = self.model.near_empty_ml
        before = self.volume_ml
        after = advance_volume(before, total, days, knee)
        for threshold, kind in ((self.model.low_reservoir_ml, PumpEventKind.RESIDUAL_FLOOR), (0.0, PumpEventKind.DRY)):
            if before > threshold >= after:
                offset = days_until_volume(before, threshold, total, knee)
                self.events.append(PumpEvent(start + timedelta(days=offset), kind))
                if kind is PumpEventKind.DRY:
                    self.dry_s += (days - offset) * SECONDS_PER_DAY
        outflow = before - after
        if total > 0:
            self.delivered_ml += outflow * deliver / total
            self.leaked_ml += outflow * leak / total
        self.volume_ml = after

    # ---- what a nurse does ---------------------------------------------------------------

    def aspirate(self, *, resolution_ml: float = 0.1, completeness: float = 1.0) -> Aspiration:
        """Withdraw the residual; the syringe is read to the nearest ``resolution_ml``.

        ``completeness`` below 1 leaves part of the residual in the pump (incomplete aspiration).

        Raises:
            ValueError: a resolution or completeness out of range.
        """
        self.sync()
        result = aspirate(self.volume_ml, resolution_ml=resolution_ml, completeness=completeness)
        self.volume_ml = result.left_in_pump_ml
        return result

    def fill(self, volume_ml: float, *, relative_viscosity: float = 1.0) -> float:
        """Inject ``volume_ml`` of an infusate; returns the volume now in the reservoir.

        A pending pocket-fill fault sends part of the injection into the pocket instead.

        Raises:
            ValueError: a non-positive volume, or more than the reservoir can take.
        """
        if volume_ml <= 0 or relative_viscosity <= 0:
            raise ValueError("fill volume and viscosity must be positive")
        self.sync()
        pocket = pocket_share(self.faults, self._used_pocket_fills, self.at, volume_ml)
        into_reservoir = volume_ml - pocket
        if self.volume_ml + into_reservoir > self.model.capacity_ml + VOLUME_TOLERANCE_ML:
            raise ValueError(
                f"{into_reservoir:g} mL does not fit: {self.volume_ml:.2f} of {self.model.capacity_ml:g} mL is in use"
            )
        self.pocket_ml += pocket
        self.volume_ml = min(self.model.capacity_ml, self.volume_ml + into_reservoir)
        self.relative_viscosity = relative_viscosity
        return self.volume_ml
