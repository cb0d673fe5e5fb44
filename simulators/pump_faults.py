"""Faults a simulated pump can be given: each starts at a moment and is plain data.

Constant-flow pumps: catheter occlusion (partial or total), precipitate narrowing the flow
restrictor day by day, a leak, part of a refill injected into the pocket. Programmable pumps:
motor stall. Running dry and the taper near empty are physics, not faults: they happen by
themselves when a refill comes too late.
"""

from dataclasses import dataclass
from datetime import datetime

from schemas.clock import as_utc

__all__ = ["Leak", "MotorStall", "Occlusion", "PocketFill", "PumpFault", "RestrictorPrecipitate"]


@dataclass(frozen=True, slots=True)
class _Timed:
    start_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_at", as_utc(self.start_at, field="fault start"))


@dataclass(frozen=True, slots=True)
class Occlusion(_Timed):
    """The catheter passes only ``remaining_flow`` of the flow (0 = total occlusion) until ``end_at``."""

    remaining_flow: float = 0.0
    end_at: datetime | None = None

    def __post_init__(self) -> None:
        super(Occlusion, self).__post_init__()
        if not 0.0 <= self.remaining_flow < 1.0:
            raise ValueError("an occlusion leaves between 0 and less than all of the flow")
        if self.end_at is not None:
            object.__setattr__(self, "end_at", as_utc(self.end_at, field="fault end"))
            if self.end_at <= self.start_at:
                raise ValueError("an occlusion must end after it starts")

    def factor_at(self, moment: datetime) -> float:
        active = self.start_at <= moment and (self.end_at is None or moment < self.end_at)
        return self.remaining_flow if active else 1.0


@dataclass(frozen=True, slots=True)
class RestrictorPrecipitate(_Timed):
    """Drug precipitating in the restrictor: each whole day from the start loses ``daily_flow_loss``."""

    daily_flow_loss: float = 0.05

    def __post_init__(self) -> None:
        super(RestrictorPrecipitate, self).__post_init__()
        if not 0.0 < self.daily_flow_loss < 1.0:
            raise ValueError("daily_flow_loss is a fraction between 0 and 1")

    def factor_at(self, moment: datetime) -> float:
        if moment < self.start_at:
            return 1.0
        days = int((moment - self.start_at).total_seconds() // 86_400)
        return float((1.0 - self.daily_flow_loss) ** days)


@dataclass(frozen=True, slots=True)
class Leak(_Timed):
    """Fluid lost from the reservoir into the pocket, on top of the delivery."""

    rate_ml_per_day: float = 0.2

    def __post_init__(self) -> None:
        super(Leak, self).__post_init__()
        if self.rate_ml_per_day <= 0:
            raise ValueError("a leak's rate must be positive")


@dataclass(frozen=True, slots=True)
class PocketFill(_Timed):
    """The first fill after ``start_at`` puts ``fraction`` of the injected volume into the pocket."""

    fraction: float = 0.3

    def __post_init__(self) -> None:
        super(PocketFill, self).__post_init__()
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError("a pocket fill takes a fraction in (0, 1] of the injection")


@dataclass(frozen=True, slots=True)
class MotorStall(_Timed):
    """A programmable pump's motor stops at ``start_at`` and delivers nothing from then on."""


PumpFault = Occlusion | RestrictorPrecipitate | Leak | PocketFill | MotorStall
