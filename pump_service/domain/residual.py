"""Expected residual volume of a pump after a span of delivery under changing conditions.

A constant-flow pump's flow follows its model's flow law (schemas/flow_law.py), so a fever or a
flight changes how much it delivers. Conditions are given as periods; the span is integrated
piece by piece with the same closed form the simulators use.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pump_service.domain.timespan import SECONDS_PER_DAY, elapsed_days, require_aware
from pump_service.errors import RuleViolationError
from schemas.flow_law import REFERENCE_CONDITIONS, FlowConditions, advance_volume
from schemas.pump import PumpModel

__all__ = ["ConditionPeriod", "expected_residual_ml"]


@dataclass(frozen=True, slots=True)
class ConditionPeriod:
    """Conditions in force from ``start_at`` until the next period starts."""

    start_at: datetime
    conditions: FlowConditions


def expected_residual_ml(
    *,
    model: PumpModel,
    fill_volume_ml: float,
    rate_ml_per_day: float,
    filled_at: datetime,
    now: datetime,
    periods: Sequence[ConditionPeriod] = (),
) -> float:
    """Volume the reservoir should hold at ``now`` after being filled with ``fill_volume_ml``.

    ``rate_ml_per_day`` is the rate at reference conditions (a constant-flow pump's labelled
    rate, or a programmable pump's mean daily volume). Before the first period, and with no
    periods, the reference conditions apply. Never negative; never more than the fill.

    Raises:
        RuleViolationError: negative or over-capacity fill, negative rate, naive datetimes,
            ``now`` not after ``filled_at``, periods out of order.
    """
    if fill_volume_ml < 0:
        raise RuleViolationError("fill volume must not be negative", field="fill_volume_ml")
    if fill_volume_ml > model.capacity_ml:
        raise RuleViolationError(
            f"fill volume {fill_volume_ml:g} mL exceeds the {model.capacity_ml:g} mL reservoir", field="fill_volume_ml"
        )
    if rate_ml_per_day < 0:
        raise RuleViolationError("rate must not be negative", field="rate_ml_per_day")
    elapsed_days(filled_at, now)
    for i, period in enumerate(periods):
        require_aware(period.start_at, "periods.start_at")
        if i and period.start_at <= periods[i - 1].start_at:
            raise RuleViolationError("condition periods must be in time order", field="periods")

    boundaries: list[tuple[datetime, FlowConditions]] = [(filled_at, REFERENCE_CONDITIONS)]
    for period in periods:
        if period.start_at <= filled_at:
            boundaries[0] = (filled_at, period.conditions)
        elif period.start_at < now:
            boundaries.append((period.start_at, period.conditions))
    ends = [start for start, _ in boundaries[1:]] + [now]

    volume = fill_volume_ml
    for (start, conditions), end in zip(boundaries, ends, strict=True):
        days = (end - start).total_seconds() / SECONDS_PER_DAY
        rate = rate_ml_per_day * model.flow_factor(conditions)
        volume = advance_volume(volume, rate, days, model.near_empty_ml)
    return volume
