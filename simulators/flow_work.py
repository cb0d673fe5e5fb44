"""The flow work ``W(t)`` of every pump of a fleet: the integral of its flow factor over time.

``W`` is piecewise linear: slope ``base`` (the factor at the patient's baseline) plus, on each
condition segment, that segment's excess over the baseline. By definition, at time ``t``::

    W(t) = base * t + sum over segments of excess * clip(t - start, 0, length)

summed in segment order. Fleets only move forward in time, so each pump keeps a cursor on the
segment it is in: the segments behind it contribute their whole excess (a running sum kept per
segment), the ones ahead contribute nothing, and an evaluation costs a few array operations for
the fleet instead of one per segment, with the same floating-point result as the sum above.

Set-up is one pass over the change points: their days and conditions go into flat arrays and the
factors come from :func:`simulators.flow_factors.flow_factors`, one call per pump model.
"""

from collections.abc import Sequence
from datetime import datetime
from itertools import chain

import numpy as np
import numpy.typing as npt

from schemas.pump import PumpFamily, PumpModel
from simulators.flow_factors import flow_factors
from simulators.patients import FleetMember

__all__ = ["FleetModels", "FlowWork"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
SECONDS_PER_DAY = 86_400.0


class FleetModels:
    """The distinct pump models of a fleet (by identity) and the number of each member's.

    A per-model figure then costs a lookup in a short table, not an attribute walk per member.
    """

    def __init__(self, members: Sequence[FleetMember]) -> None:
        numbers: dict[int, int] = {}
        self.number = np.array([numbers.setdefault(id(m.model), len(numbers)) for m in members], dtype=np.int64)
        first = np.unique(self.number, return_index=True)[1] if len(members) else np.zeros(0, dtype=np.int64)
        self.models: list[PumpModel] = [members[int(i)].model for i in first]

    def figure(self, name: str) -> Floats:
        """Per member, the float attribute ``name`` of its model."""
        table = np.array([float(getattr(m, name)) for m in self.models])
        values: Floats = table[self.number] if self.models else np.zeros(0)
        return values

    def family_is(self, family: PumpFamily) -> npt.NDArray[np.bool_]:
        """Per member, whether its model is of ``family``."""
        table = np.array([m.family is family for m in self.models], dtype=bool)
        flags: npt.NDArray[np.bool_] = table[self.number] if self.models else np.zeros(0, dtype=bool)
        return flags


class _ChangePoints:
    """Every constant-flow pump's baseline and change points, flattened in pump and time order."""

    def __init__(self, members: Sequence[FleetMember], start: datetime, models: "FleetModels") -> None:
        self.count = len(members)
        constant_model = np.array([m.family is PumpFamily.CONSTANT_FLOW for m in models.models], dtype=bool)
        self.models = models.models
        self.pumps = np.flatnonzero(constant_model[models.number]).astype(np.int64)
        self.pump_model = models.number[self.pumps]
        constant = self.pumps.tolist()
        timelines = [members[i].timeline for i in constant]
        self.base_temperature = np.array([tl.baseline.body_temperature_c for tl in timelines], dtype=float)
        self.base_pressure = np.array([tl.baseline.ambient_pressure_mmhg for tl in timelines], dtype=float)
        counts = np.fromiter((len(tl.change_times) for tl in timelines), np.int64, len(timelines))
        self.point_pump = np.repeat(self.pumps, counts)
        times = list(chain.from_iterable(tl.change_times for tl in timelines))
        states = list(chain.from_iterable(tl.change_states for tl in timelines))
        self.seconds = np.array([(t - start).total_seconds() for t in times], dtype=float)
        self.temperature = np.array([s.body_temperature_c for s in states], dtype=float)
        self.pressure = np.array([s.ambient_pressure_mmhg for s in states], dtype=float)

    def factors(self) -> tuple[Floats, Floats]:
        """The baseline factor of every pump (1 unless constant-flow), and each change point's."""
        model_of_pump = np.zeros(self.count, dtype=np.int64)
        model_of_pump[self.pumps] = self.pump_model
        point_model = model_of_pump[self.point_pump]
        base = np.ones(self.count)
        point = np.empty(self.point_pump.size)
        for key, model in enumerate(self.models):
            of_pumps, of_points = self.pump_model == key, point_model == key
            both = flow_factors(
                model,
                np.concatenate([self.base_temperature[of_pumps], self.temperature[of_points]]),
                np.concatenate([self.base_pressure[of_pumps], self.pressure[of_points]]),
            )
            split = int(np.count_nonzero(of_pumps))
            base[self.pumps[of_pumps]] = both[:split]
            point[of_points] = both[split:]
        return base, point


class FlowWork:
    """``W`` for every pump at its own time, which only moves forward (see the module docstring)."""

    def __init__(self, members: Sequence[FleetMember], start: datetime, models: "FleetModels | None" = None) -> None:
        count = len(members)
        points = _ChangePoints(members, start, models or FleetModels(members))
        self.base, factor = points.factors()
        pump = points.point_pump
        begin = points.seconds / SECONDS_PER_DAY
        last = np.append(pump[1:] != pump[:-1], True) if pump.size else np.zeros(0, dtype=bool)
        end = np.append(begin[1:], np.inf) if pump.size else np.zeros(0)
        end[last] = np.inf
        self._pump, self._begin, self._end, self._factor = pump, begin, end, factor
        self._excess = factor - self.base[pump]
        self._behind = self._running_sums(pump, self._excess * np.where(last, 0.0, end - begin))
        self._first = np.searchsorted(pump, np.arange(count + 1)).astype(np.int64)
        # Per pump: the segment it is in (one before its first until it reaches it) and that segment's terms.
        self._cursor = self._first[:-1] - 1
        self._next = np.full(count, np.inf)
        has_points = self._first[1:] > self._first[:-1]
        self._next[has_points] = begin[self._first[:-1][has_points]]
        self._sum_behind = np.zeros(count)
        self._cur_excess = np.zeros(count)
        self._cur_begin = np.zeros(count)
        self._breakpoints: dict[int, tuple[Floats, Floats, Floats]] = {}

    @staticmethod
    def _running_sums(pump: Ints, whole: Floats) -> Floats:
        """Per segment, the sum of its pump's earlier segments' ``whole`` terms, added in order from 0."""
        behind = np.zeros(pump.size)
        if pump.size == 0:
            return behind
        rank = np.arange(pump.size) - np.searchsorted(pump, pump)
        for r in range(1, int(rank.max()) + 1):
            rows = np.flatnonzero(rank == r)
            behind[rows] = behind[rows - 1] + whole[rows - 1]
        return behind

    def at(self, t: Floats, index: Ints | None = None) -> Floats:
        """W of the pumps ``index`` (all by default) at their times ``t``, never earlier than the last asked."""
        self._move(t, index)
        if index is None:
            base, behind, excess, begin = self.base, self._sum_behind, self._cur_excess, self._cur_begin
        else:
            base, behind = self.base[index], self._sum_behind[index]
            excess, begin = self._cur_excess[index], self._cur_begin[index]
        work: Floats = base * t + (behind + excess * (t - begin))
        return work

    def _move(self, t: Floats, index: Ints | None) -> None:
        ahead = self._next if index is None else self._next[index]
        rows = np.flatnonzero(t >= ahead)  # positions in ``index`` (pumps, if all) whose segment ends by t
        while rows.size:
            pumps = rows if index is None else index[rows]
            segment = self._cursor[pumps] + 1
            self._cursor[pumps] = segment
            self._sum_behind[pumps] = self._behind[segment]
            self._cur_excess[pumps] = self._excess[segment]
            self._cur_begin[pumps] = self._begin[segment]
            self._next[pumps] = self._end[segment]
            rows = rows[t[rows] >= self._next[pumps]]  # passed more than one change in this step

    def invert(self, pump: int, work: float) -> float:
        """The earliest time at which pump ``pump``'s W reaches ``work``."""
        first, stop = int(self._first[pump]), int(self._first[pump + 1])
        if first == stop:
            return float(work / self.base[pump])
        if pump not in self._breakpoints:
            self._breakpoints[pump] = self._piecewise(
                float(self.base[pump]), self._begin[first:stop], self._factor[first:stop]
            )
        times, cumulative, slopes = self._breakpoints[pump]
        k = int(np.searchsorted(cumulative[1:], work, side="left"))  # breakpoints whose W is below ``work``
        if k == 0:
            return float(work / slopes[0])
        # segment k starts at times[k] with W = cumulative[k] < work; it rises there unless it is the last
        return float(times[k] + (work - cumulative[k]) / slopes[k]) if slopes[k] > 0 else float("inf")

    @staticmethod
    def _piecewise(base: float, days: Floats, factors: Floats) -> tuple[Floats, Floats, Floats]:
        times = np.concatenate([[-np.inf], days])
        slopes = np.concatenate([[base], factors])
        work = np.zeros(len(times))
        work[1] = base * days[0]
        for k in range(2, len(times)):
            work[k] = work[k - 1] + slopes[k - 1] * (times[k] - times[k - 1])
        return times, work, slopes
