"""What a patient's body and surroundings do to a pump over time: fevers, flights, mountain stays.

A :class:`PatientTimeline` is a baseline plus episodes; it resolves into piecewise-constant
conditions (body temperature, ambient pressure) that the constant-flow pump's flow law turns into
a flow factor. Episodes may overlap: each sets only the fields it names and, where two overlap,
the one listed later wins. The infusate's viscosity is not the patient's: the pump carries it.
"""

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from schemas.clock import as_utc
from schemas.flow_law import SEA_LEVEL_MMHG, FlowConditions, ambient_pressure_mmhg

__all__ = ["Episode", "PatientState", "PatientTimeline"]


@dataclass(frozen=True, slots=True)
class PatientState:
    """Body temperature and the ambient pressure around the patient."""

    body_temperature_c: float = 37.0
    ambient_pressure_mmhg: float = SEA_LEVEL_MMHG

    def conditions(self, relative_viscosity: float = 1.0) -> FlowConditions:
        return FlowConditions(
            body_temperature_c=self.body_temperature_c,
            ambient_pressure_mmhg=self.ambient_pressure_mmhg,
            relative_viscosity=relative_viscosity,
        )


@dataclass(frozen=True, slots=True)
class Episode:
    """From ``start_at`` until ``end_at`` the named fields differ from the baseline."""

    kind: str
    start_at: datetime
    end_at: datetime
    body_temperature_c: float | None = None
    ambient_pressure_mmhg: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_at", as_utc(self.start_at, field="episode start"))
        object.__setattr__(self, "end_at", as_utc(self.end_at, field="episode end"))
        if self.end_at <= self.start_at:
            raise ValueError(f"episode {self.kind!r} must end after it starts")
        if self.body_temperature_c is None and self.ambient_pressure_mmhg is None:
            raise ValueError(f"episode {self.kind!r} changes nothing")

    @classmethod
    def at_altitude(cls, kind: str, start_at: datetime, end_at: datetime, altitude_m: float) -> "Episode":
        return cls(kind, start_at, end_at, ambient_pressure_mmhg=ambient_pressure_mmhg(altitude_m))


@dataclass(frozen=True)
class PatientTimeline:
    """A baseline and its episodes, resolved once into change points."""

    baseline: PatientState = PatientState()
    episodes: Sequence[Episode] = ()
    _starts: tuple[datetime, ...] = field(init=False, repr=False)
    _states: tuple[PatientState, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        points = sorted({t for e in self.episodes for t in (e.start_at, e.end_at)})
        starts: list[datetime] = []
        states: list[PatientState] = []
        for point in points:
            state = self._resolve(point)
            if states and state == states[-1]:
                continue
            if not states and state == self.baseline:
                continue
            starts.append(point)
            states.append(state)
        object.__setattr__(self, "_starts", tuple(starts))
        object.__setattr__(self, "_states", tuple(states))

    def _resolve(self, moment: datetime) -> PatientState:
        temperature = self.baseline.body_temperature_c
        pressure = self.baseline.ambient_pressure_mmhg
        for episode in self.episodes:
            if episode.start_at <= moment < episode.end_at:
                if episode.body_temperature_c is not None:
                    temperature = episode.body_temperature_c
                if episode.ambient_pressure_mmhg is not None:
                    pressure = episode.ambient_pressure_mmhg
        return PatientState(temperature, pressure)

    def state_at(self, moment: datetime) -> PatientState:
        """The state in force at ``moment`` (a change at exactly ``moment`` applies)."""
        index = bisect_right(self._starts, moment)
        return self.baseline if index == 0 else self._states[index - 1]

    def changes_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Change points strictly inside (start, end), in order."""
        return [t for t in self._starts if start < t < end]

    @property
    def change_times(self) -> tuple[datetime, ...]:
        """When each change happens, in order (the times of :attr:`change_points`, without building pairs)."""
        return self._starts

    @property
    def change_states(self) -> tuple[PatientState, ...]:
        """The state from each change on, in the order of :attr:`change_times`."""
        return self._states

    @property
    def change_points(self) -> tuple[tuple[datetime, PatientState], ...]:
        """Every change as (time, state from then on), in order; before the first, the baseline."""
        return tuple(zip(self._starts, self._states, strict=True))
