"""When the next refill is due: the earliest of every constraint, and which one decided it.

Constraints: the low-reservoir alarm (or residual floor) minus a safety margin, the empty date
minus the margin, the drug's in-pump stability, the protocol cycle (HAI: 14 days) and the
model's longest interval. Refills are booked *before* the alarm: an alarm may not be heard.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pump_service.domain.reservoir import ReservoirForecast
from pump_service.domain.timespan import require_aware
from pump_service.errors import RuleViolationError

__all__ = ["FILL_CONSTRAINTS", "DueConstraint", "DueDate", "DueReason", "next_refill_due"]


class DueReason(StrEnum):
    LOW_RESERVOIR = "low_reservoir"
    EMPTY = "empty"
    DRUG_STABILITY = "drug_stability"
    PROTOCOL_INTERVAL = "protocol_interval"
    MAX_INTERVAL = "max_interval"


# Set by the fill and its drugs; a reservoir reading changes only the alarm and empty dates.
FILL_CONSTRAINTS = frozenset({DueReason.DRUG_STABILITY, DueReason.PROTOCOL_INTERVAL, DueReason.MAX_INTERVAL})


@dataclass(frozen=True, slots=True)
class DueConstraint:
    reason: DueReason
    due_at: datetime


@dataclass(frozen=True, slots=True)
class DueDate:
    """The due instant, the constraint that set it, and every constraint considered (earliest first)."""

    due_at: datetime
    reason: DueReason
    constraints: tuple[DueConstraint, ...]


def next_refill_due(
    *,
    filled_at: datetime,
    forecast: ReservoirForecast,
    safety_margin_days: float = 3.0,
    stability_days: Iterable[float | None] = (),
    protocol_interval_days: float | None = None,
    max_interval_days: float | None = None,
    fixed: Iterable[DueConstraint] = (),
) -> DueDate:
    """Earliest constraint on the next refill after a fill at ``filled_at``.

    ``stability_days`` takes one value per drug in the fill; the shortest wins. ``fixed`` are
    constraints already decided at the fill (a replan from a reading keeps the fill's stability,
    protocol and longest-interval dates instead of deriving them again).

    Raises:
        RuleViolationError: a negative margin, a naive ``filled_at``, or no constraint at all
            (a stopped pump with no interval limit would never be seen again).
    """
    require_aware(filled_at, "filled_at")
    if safety_margin_days < 0:
        raise RuleViolationError("safety margin must not be negative", field="safety_margin_days")
    margin = timedelta(days=safety_margin_days)
    constraints: list[DueConstraint] = []
    if forecast.low_reservoir_at is not None:
        constraints.append(DueConstraint(DueReason.LOW_RESERVOIR, forecast.low_reservoir_at - margin))
    if forecast.empty_at is not None:
        constraints.append(DueConstraint(DueReason.EMPTY, forecast.empty_at - margin))
    if protocol_interval_days is not None:
        constraints.append(
            DueConstraint(DueReason.PROTOCOL_INTERVAL, filled_at + timedelta(days=protocol_interval_days))
        )
    stabilities = [d for d in stability_days if d is not None]
    if stabilities:
        constraints.append(DueConstraint(DueReason.DRUG_STABILITY, filled_at + timedelta(days=min(stabilities))))
    if max_interval_days is not None:
        constraints.append(DueConstraint(DueReason.MAX_INTERVAL, filled_at + timedelta(days=max_interval_days)))
    constraints.extend(fixed)
    if not constraints:
        raise RuleViolationError("no constraint bounds the next refill", field="max_interval_days")
    # Stable sort: on a tie the earlier-listed (more urgent) reason is reported.
    ordered = tuple(sorted(constraints, key=lambda c: c.due_at))
    return DueDate(due_at=ordered[0].due_at, reason=ordered[0].reason, constraints=ordered)
