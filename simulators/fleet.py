"""A fleet of simulated patients with pumps, advanced in steps of virtual time, vectorised with numpy.

It produces the truth a bench scores a refill schedule against: every pump's true volume at each
step, when each alarm fired and when any pump ran dry, and how long it stayed dry.

How it stays exact while stepping. The reservoir law ``dV/dt = -r * f(t) * g(V)`` (``f`` the flow
factor of the patient's conditions, ``g`` the taper near empty) separates: the volume depends
only on the *flow work* ``W(t) = integral of f``, through the same closed form the single-pump
simulators use (:func:`schemas.flow_law.advance_volume` with rate 1). ``W`` is piecewise linear,
so a step costs a few array operations for every pump at once, and a threshold crossing inside a
step is located exactly by inverting ``W``: in one division for a pump at constant conditions, by
walking its few condition changes otherwise. ``W`` itself, and the set-up that tabulates the
conditions, are :mod:`simulators.flow_work`'s. Most pumps in a step neither approach a threshold
nor their taper, so the closed forms and the exact crossing test run only for those that do.

Pumps: constant-flow (conditions from the patient's timeline; the event ``ALARM`` is reaching
the model's residual floor) and programmable with a continuous prescription (the register runs at
the programmed rate and raises ``ALARM`` at the low-reservoir volume and ``EMPTY_ALARM`` at
zero; the true volume runs at the programmed rate times the unit's accuracy factor). ``DRY`` is
the true volume reaching zero. Faults and step profiles are the single-pump simulators' business.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from schemas.pump import PumpFamily
from simulators.flow_work import FleetModels, FlowWork
from simulators.patients import FleetMember

__all__ = ["FleetEventKind", "FleetRunner", "FleetTruth", "advance_volumes", "work_to_volume"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
CROSSING_SLACK_ML = 1e-6  # far above the rounding of the volume law, far below any threshold


class FleetEventKind(IntEnum):
    ALARM = 0  # constant-flow residual floor; programmable low-reservoir alarm
    EMPTY_ALARM = 1  # programmable register at zero
    DRY = 2  # true volume at zero: the patient gets nothing


def advance_volumes(volume: Floats, work: Floats, knee: Floats) -> Floats:
    """Vectorised :func:`schemas.flow_law.advance_volume` at rate 1 for ``work`` days."""
    above = np.maximum(volume - knee, 0.0)
    linear = volume - work
    rest = np.maximum(work - above, 0.0)
    start = np.minimum(volume, knee)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(start) - rest / (2.0 * np.sqrt(knee))
    tapered = np.where(root > 0.0, root * root, 0.0)
    tapered = np.minimum(tapered, start)
    result = np.where((knee <= 0.0) | (work <= above), np.maximum(linear, 0.0), tapered)
    return np.where(work <= 0.0, volume, result)


def _advance_volumes_quickly(volume: Floats, work: Floats, knee_slack: Floats, knee: Floats) -> Floats:
    """:func:`advance_volumes`, bit for bit, with its closed form evaluated only where it is not linear.

    A pump that ends clearly above its knee (``knee_slack`` = knee plus more than any rounding)
    drained linearly; so did none that went backwards (``work`` rounded below zero).
    """
    result = volume - work
    special = (result < knee_slack) | (work < 0.0)
    if special.any():
        rows = np.flatnonzero(special)
        result[rows] = advance_volumes(volume[rows], work[rows], knee[rows])
    return result


def work_to_volume(volume: Floats, target: float, knee: Floats) -> Floats:
    """Vectorised :func:`schemas.flow_law.days_until_volume` at rate 1 (0 where already there)."""
    target_arr = np.full_like(volume, max(0.0, target))
    linear = volume - target_arr
    above = np.maximum(volume - knee, 0.0)
    start = np.minimum(volume, knee)
    with np.errstate(divide="ignore", invalid="ignore"):
        tapered = above + (np.sqrt(start) - np.sqrt(np.minimum(target_arr, start))) * 2.0 * np.sqrt(knee)
    result = np.where((knee <= 0.0) | (target_arr >= knee), linear, tapered)
    return np.where(volume <= target_arr, 0.0, result)


@dataclass(frozen=True)
class FleetTruth:
    """What really happened: volumes at each step and every threshold crossing."""

    serials: tuple[str, ...]
    times_days: Floats  # step boundaries, days from the start
    volume_ml: npt.NDArray[np.float32] | None  # pumps x steps+1, true volume (None unless recorded)
    event_pump: Ints
    event_kind: Ints
    event_at_days: Floats
    dry_days: Floats  # per pump, total time with an empty reservoir

    def events_of(self, kind: FleetEventKind) -> list[tuple[int, float]]:
        """(pump index, day) of every event of ``kind``, in time order."""
        mask = self.event_kind == kind
        order = np.argsort(self.event_at_days[mask], kind="stable")
        return list(zip(self.event_pump[mask][order].tolist(), self.event_at_days[mask][order].tolist(), strict=True))


@dataclass(frozen=True)
class _Channel:
    """One volume the runner tracks for every pump (the true reservoir, or the programmable register)."""

    volume: Floats  # per pump, updated in place
    rate: Floats
    knee: Floats
    knee_slack: Floats  # knee plus rounding slack (see _advance_volumes_quickly)
    thresholds: tuple[tuple[Floats, FleetEventKind], ...]
    # Per pump, the highest threshold plus rounding slack: a step can only cross a threshold if it
    # ends at most this low, so the exact crossing test runs for those pumps only.
    low: Floats


def _take(values: Floats, index: Ints | None) -> Floats:
    return values if index is None else values[index]


def _put(values: Floats, index: Ints | None, new: Floats) -> None:
    if index is None:
        values[:] = new
    else:
        values[index] = new


class FleetRunner:
    """N pumps filled at day 0, advanced step by step, refilled on a schedule or on request."""

    def __init__(self, members: Sequence[FleetMember], *, start: datetime, fill_ml: Sequence[float] | None = None):
        self.members = tuple(members)
        self.start = start
        count = len(self.members)
        models = FleetModels(self.members)
        programmable = models.family_is(PumpFamily.PROGRAMMABLE)
        self._programmable: Bools = programmable
        self._programmable_rows = np.flatnonzero(programmable)
        knee = models.figure("near_empty_ml")
        floor = models.figure("low_reservoir_ml")
        register_rate = np.array([m.rate_ml_per_day for m in self.members], dtype=float)
        true_rate = register_rate * np.array([m.unit_factor for m in self.members], dtype=float)
        fills = np.array(fill_ml, dtype=float) if fill_ml is not None else models.figure("capacity_ml")
        self._fill = fills
        self.true_ml = fills.copy()
        self.register_ml = np.where(programmable, fills, np.nan)
        zeros = np.zeros(count)
        # Constant-flow pumps alarm on their true volume (no register); programmable ones do not.
        true_floor = np.where(programmable, -1.0, floor)
        self._true = _Channel(
            self.true_ml,
            true_rate,
            knee,
            knee + CROSSING_SLACK_ML,
            ((true_floor, FleetEventKind.ALARM), (zeros, FleetEventKind.DRY)),
            np.maximum(true_floor, 0.0) + CROSSING_SLACK_ML,
        )
        self._register = _Channel(
            self.register_ml,
            register_rate,
            zeros,
            zeros + CROSSING_SLACK_ML,
            ((floor, FleetEventKind.ALARM), (zeros, FleetEventKind.EMPTY_ALARM)),
            np.maximum(floor, 0.0) + CROSSING_SLACK_ML,
        )
        self.t = np.zeros(count)
        self._work = FlowWork(self.members, start, models)
        self._w = self._work.at(self.t)
        self._dry_since = np.full(count, np.nan)
        self.dry_days = np.zeros(count)
        self._events: list[tuple[Ints, Ints, Floats]] = []

    # ---- stepping -----------------------------------------------------------------------

    def advance(self, to_days: "float | Floats", mask: Bools | None = None) -> None:
        """Move the pumps selected by ``mask`` (all by default) to ``to_days`` (scalar or per pump)."""
        index = None if mask is None else np.flatnonzero(mask)
        if index is not None and index.size == 0:
            return
        target = np.broadcast_to(np.asarray(to_days, dtype=float), self.t.shape)
        target = target if index is None else target[index]
        if np.any(target < _take(self.t, index)):
            raise ValueError("a fleet cannot run backwards in time")
        w_new = self._work.at(target, index)
        dw = w_new - _take(self._w, index)
        self._channel(index, self._true, dw)
        if self._programmable_rows.size:
            chosen = self._programmable if index is None else self._programmable[index]
            programmable = self._programmable_rows if index is None else index[chosen]
            if programmable.size:
                self._channel(programmable, self._register, dw[chosen])
        _put(self.t, index, target)
        if index is None:
            self._w = w_new
        else:
            self._w[index] = w_new

    def _channel(self, index: Ints | None, channel: _Channel, dw: Floats) -> None:
        before = _take(channel.volume, index)
        rate = _take(channel.rate, index)
        knee = _take(channel.knee, index)
        work = rate * dw
        after = _advance_volumes_quickly(before, work, _take(channel.knee_slack, index), knee)
        low = after <= _take(channel.low, index)
        if low.any():
            rows = np.flatnonzero(low)
            pumps = rows if index is None else index[rows]
            for threshold, kind in channel.thresholds:
                level = threshold[pumps]
                needed = self._work_needed(before[rows], level, knee[rows])
                crossing = (before[rows] > level) & (level >= 0.0) & (work[rows] >= needed)
                if np.any(crossing):
                    self._record(pumps[crossing], kind, needed[crossing] / rate[rows][crossing])
        _put(channel.volume, index, after)

    @staticmethod
    def _work_needed(volume: Floats, threshold: Floats, knee: Floats) -> Floats:
        needed = np.empty_like(volume)
        for value in np.unique(threshold):
            rows = threshold == value
            needed[rows] = work_to_volume(volume[rows], float(value), knee[rows])
        return needed

    def _record(self, pumps: Ints, kind: FleetEventKind, flow_work: Floats) -> None:
        at = np.array(
            [self._work.invert(int(p), float(w)) for p, w in zip(pumps, self._w[pumps] + flow_work, strict=True)]
        )
        at = np.maximum(at, self.t[pumps])
        self._events.append((pumps, np.full(pumps.size, int(kind)), at))
        if kind is FleetEventKind.DRY:
            self._dry_since[pumps] = at

    def refill(self, mask: Bools, fill_ml: "float | Floats | None" = None) -> None:
        """Aspirate completely and refill the selected pumps at their current time."""
        index = np.flatnonzero(mask)
        volume = (
            self._fill[index] if fill_ml is None else np.broadcast_to(np.asarray(fill_ml, float), self.t.shape)[index]
        )
        dry = index[~np.isnan(self._dry_since[index])]
        self.dry_days[dry] += self.t[dry] - self._dry_since[dry]
        self._dry_since[index] = np.nan
        self.true_ml[index] = volume
        self.register_ml[index] = np.where(self._programmable[index], volume, np.nan)

    # ---- whole runs ---------------------------------------------------------------------

    def run(
        self,
        days: float,
        *,
        step_days: float = 1.0,
        refill_days: Sequence[Sequence[float]] | None = None,
        refill_every_days: float | None = None,
        record_volumes: bool = False,
    ) -> FleetTruth:
        """Advance ``days`` in steps, refilling at each pump's ``refill_days`` or every ``refill_every_days``."""
        if step_days <= 0 or days <= 0:
            raise ValueError("days and step_days must be positive")
        count = len(self.t)
        schedule = self._schedule(count, days, refill_days, refill_every_days)
        pointer = np.zeros(count, dtype=np.int64)
        upcoming = schedule[:, 0].copy()
        steps = int(np.ceil(days / step_days - 1e-9))
        times = np.minimum(np.arange(steps + 1) * step_days, days)
        volumes = np.empty((count, steps + 1), dtype=np.float32) if record_volumes else None
        if volumes is not None:
            volumes[:, 0] = self.true_ml
        for k in range(1, steps + 1):
            end = float(times[k])
            while True:
                due = upcoming <= end
                if not np.any(due):
                    break
                self.advance(np.where(due, upcoming, self.t), mask=due)
                self.refill(due)
                rows = np.flatnonzero(due)
                pointer[rows] += 1
                upcoming[rows] = schedule[rows, pointer[rows]]
            self.advance(end)
            if volumes is not None:
                volumes[:, k] = self.true_ml
        return self.truth(times, volumes)

    @staticmethod
    def _schedule(
        count: int, days: float, refill_days: Sequence[Sequence[float]] | None, every: float | None
    ) -> Floats:
        """Refill days per pump as rows padded with infinity (one spare column ends every row)."""
        if refill_days is not None and every is not None:
            raise ValueError("give refill_days or refill_every_days, not both")
        if refill_days is not None:
            if len(refill_days) != count:
                raise ValueError(f"refill_days needs one list per pump ({count})")
            width = max((len(d) for d in refill_days), default=0) + 1
            table = np.full((count, width), np.inf)
            for row, days_of_pump in enumerate(refill_days):
                table[row, : len(days_of_pump)] = sorted(days_of_pump)
            return table
        regular = np.arange(every, days + 1e-9, every) if every is not None else np.zeros(0)
        return np.tile(np.append(regular, np.inf), (count, 1))

    def truth(self, times: Floats, volumes: npt.NDArray[np.float32] | None) -> FleetTruth:
        """The truth so far; pumps still dry count their dry time up to now."""
        dry_days = self.dry_days + np.where(np.isnan(self._dry_since), 0.0, self.t - np.nan_to_num(self._dry_since))
        if self._events:
            pumps, kinds, at = (np.concatenate(parts) for parts in zip(*self._events, strict=True))
        else:
            pumps, kinds, at = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        return FleetTruth(
            serials=tuple(m.serial for m in self.members),
            times_days=times,
            volume_ml=volumes,
            event_pump=pumps,
            event_kind=kinds,
            event_at_days=at,
            dry_days=dry_days,
        )
