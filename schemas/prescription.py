"""Prescriptions of a programmable pump: continuous, a daily cycle of steps, or stopped.

The shapes follow HPP/1 (docs/protocol.md): steps form a daily cycle whose first step starts at
00:00 and each runs until the next one (the last until midnight). An optional patient bolus
allowance is what the worst-case daily volume counts on.
"""

from datetime import time
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.units import RateMlPerDay, VolumeMl

__all__ = [
    "BolusAllowance",
    "ContinuousPrescription",
    "Prescription",
    "RateStep",
    "StepsPrescription",
    "StoppedPrescription",
]

MAX_STEPS = 24
MINUTES_PER_DAY = 24 * 60


class BolusAllowance(BaseModel):
    """Patient-activated boluses the prescription permits (worst case: all used every day)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    volume_ml: VolumeMl = Field(gt=0)
    max_per_day: int = Field(ge=0, le=48)


class RateStep(BaseModel):
    """One step of a daily cycle: from ``start`` (clinic-agnostic pump time, HH:MM) at a rate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    rate_ml_per_day: RateMlPerDay

    @field_validator("start")
    @classmethod
    def _whole_minutes(cls, value: time) -> time:
        if value.second or value.microsecond or value.tzinfo is not None:
            raise ValueError("a step starts on a whole minute, HH:MM, without a zone")
        return value

    @property
    def start_minute(self) -> int:
        return self.start.hour * 60 + self.start.minute


class _PrescriptionBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rx_id: str | None = Field(None, max_length=64, description="assigned by the pump; opaque")


class ContinuousPrescription(_PrescriptionBase):
    mode: Literal["continuous"] = "continuous"
    rate_ml_per_day: RateMlPerDay = Field(gt=0)
    bolus: BolusAllowance | None = None

    def mean_rate_ml_per_day(self) -> float:
        """Basal volume per 24 h."""
        return self.rate_ml_per_day

    def rate_at(self, moment: time) -> float:
        """Basal rate in force at pump time ``moment``."""
        return self.rate_ml_per_day


class StepsPrescription(_PrescriptionBase):
    mode: Literal["steps"] = "steps"
    steps: tuple[RateStep, ...] = Field(min_length=1, max_length=MAX_STEPS)
    bolus: BolusAllowance | None = None

    @field_validator("steps")
    @classmethod
    def _daily_cycle(cls, steps: tuple[RateStep, ...]) -> tuple[RateStep, ...]:
        if steps[0].start_minute != 0:
            raise ValueError("the first step must start at 00:00")
        starts = [s.start_minute for s in steps]
        if any(b <= a for a, b in pairwise(starts)):
            raise ValueError("step start times must be strictly increasing")
        if all(s.rate_ml_per_day == 0 for s in steps):
            raise ValueError("every step is 0 mL/day: use the stopped mode")
        return steps

    def mean_rate_ml_per_day(self) -> float:
        """Basal volume per 24 h: each step weighted by how long it runs."""
        ends = [s.start_minute for s in self.steps[1:]] + [MINUTES_PER_DAY]
        return sum(s.rate_ml_per_day * (end - s.start_minute) for s, end in zip(self.steps, ends, strict=True)) / (
            MINUTES_PER_DAY
        )

    def rate_at(self, moment: time) -> float:
        """Basal rate in force at pump time ``moment``."""
        minute = moment.hour * 60 + moment.minute
        current = self.steps[0]
        for step in self.steps:
            if step.start_minute <= minute:
                current = step
        return current.rate_ml_per_day


class StoppedPrescription(_PrescriptionBase):
    mode: Literal["stopped"] = "stopped"

    def mean_rate_ml_per_day(self) -> float:
        return 0.0

    def rate_at(self, moment: time) -> float:
        return 0.0


Prescription = Annotated[ContinuousPrescription | StepsPrescription | StoppedPrescription, Field(discriminator="mode")]
