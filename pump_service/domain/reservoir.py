"""Reservoir forecast: daily volume of a prescription, and when the pump alarms and runs empty.

A programmable pump's daily use is its basal profile averaged over 24 h plus, as the worst case,
every patient bolus the prescription allows (the Prometra refill-date convention). A
constant-flow pump's is its condition-corrected flow. Both then deplete the reservoir toward the
low-reservoir alarm (or residual floor) and zero.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from pump_service.domain.timespan import require_aware
from pump_service.errors import RuleViolationError
from schemas.flow_law import days_until_volume
from schemas.prescription import ContinuousPrescription, StepsPrescription, StoppedPrescription

__all__ = ["ReservoirForecast", "daily_volume_ml", "forecast_reservoir"]


def daily_volume_ml(
    prescription: ContinuousPrescription | StepsPrescription | StoppedPrescription, *, worst_case_boluses: bool = True
) -> float:
    """Volume per day: the basal mean over 24 h, plus every allowed bolus if ``worst_case_boluses``."""
    basal = prescription.mean_rate_ml_per_day()
    bolus = getattr(prescription, "bolus", None)
    if worst_case_boluses and bolus is not None:
        basal += bolus.volume_ml * bolus.max_per_day
    return basal


@dataclass(frozen=True, slots=True)
class ReservoirForecast:
    """When a reservoir holding ``volume_ml`` at ``at`` reaches its alarm volume and zero."""

    volume_ml: float
    at: datetime
    daily_volume_ml: float
    low_reservoir_at: datetime | None  # None: the pump is stopped and never gets there
    empty_at: datetime | None


def _after(at: datetime, days: float) -> datetime | None:
    if days == float("inf"):
        return None
    return at + timedelta(days=days)


def forecast_reservoir(
    *, volume_ml: float, at: datetime, daily_volume_ml: float, low_reservoir_ml: float, near_empty_ml: float = 0.0
) -> ReservoirForecast:
    """Alarm and empty dates for a reservoir depleting at ``daily_volume_ml``.

    Raises:
        RuleViolationError: negative volume, rate or alarm volume, or a naive ``at``.
    """
    require_aware(at, "at")
    if volume_ml < 0:
        raise RuleViolationError("reservoir volume must not be negative", field="volume_ml")
    if daily_volume_ml < 0:
        raise RuleViolationError("daily volume must not be negative", field="daily_volume_ml")
    if low_reservoir_ml < 0:
        raise RuleViolationError("alarm volume must not be negative", field="low_reservoir_ml")
    return ReservoirForecast(
        volume_ml=volume_ml,
        at=at,
        daily_volume_ml=daily_volume_ml,
        low_reservoir_at=_after(at, days_until_volume(volume_ml, low_reservoir_ml, daily_volume_ml, near_empty_ml)),
        empty_at=_after(at, days_until_volume(volume_ml, 0.0, daily_volume_ml, near_empty_ml)),
    )
