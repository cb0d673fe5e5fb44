"""The figures a pump's chart plots, taken from its stored refills and its forecast (no drawing here).

The web layer draws them (``pump_service.web.charts``); keeping the series apart lets the chart be
tested as a pure function and lets other views (the PDF) reuse the same figures.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pump_service.persistence.models import Pump, Refill
from schemas.pump_catalogue import get_pump_model

__all__ = ["FlowPoint", "Forecast", "PumpSeries", "VolumeKind", "VolumePoint", "pump_series"]


class VolumeKind(StrEnum):
    MEASURED = "measured"  # what came back out of the reservoir at a refill (or a reading)
    FILLED = "filled"  # what the reservoir held after the refill


@dataclass(frozen=True, slots=True)
class VolumePoint:
    at: datetime
    volume_ml: float
    kind: VolumeKind


@dataclass(frozen=True, slots=True)
class FlowPoint:
    """At one refill: the flow measured over the interval and the flow the plan expected."""

    at: datetime
    measured_ml_per_day: float | None
    planned_ml_per_day: float | None


@dataclass(frozen=True, slots=True)
class Forecast:
    """The decline from the last known volume to the low-reservoir alarm and to empty."""

    from_at: datetime
    from_ml: float
    alarm_at: datetime | None
    alarm_ml: float
    empty_at: datetime | None


@dataclass(frozen=True, slots=True)
class PumpSeries:
    capacity_ml: float
    volumes: tuple[VolumePoint, ...]
    flows: tuple[FlowPoint, ...]
    forecast: Forecast | None


def pump_series(pump: Pump, refills: Sequence[Refill]) -> PumpSeries:
    """The chart's series: refills oldest first, then the forecast from the pump's last known volume."""
    model = get_pump_model(pump.model_id)
    volumes: list[VolumePoint] = []
    flows: list[FlowPoint] = []
    for refill in sorted(refills, key=lambda r: r.performed_at):
        if refill.previous_fill_at is not None:  # a first fill has nothing to measure
            volumes.append(VolumePoint(refill.performed_at, refill.returned_volume_ml, VolumeKind.MEASURED))
            flows.append(
                FlowPoint(refill.performed_at, refill.measured_rate_ml_per_day, refill.expected_rate_ml_per_day)
            )
        volumes.append(VolumePoint(refill.performed_at, refill.fill_volume_ml, VolumeKind.FILLED))
    forecast = None
    if pump.reservoir_ml is not None and pump.reservoir_at is not None and (pump.alarm_at or pump.empty_at):
        forecast = Forecast(
            from_at=pump.reservoir_at,
            from_ml=pump.reservoir_ml,
            alarm_at=pump.alarm_at,
            alarm_ml=model.low_reservoir_ml,
            empty_at=pump.empty_at,
        )
    return PumpSeries(capacity_ml=model.capacity_ml, volumes=tuple(volumes), flows=tuple(flows), forecast=forecast)
