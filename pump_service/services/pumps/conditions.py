"""Record what a constant-flow pump's patient is going through, and move the due date with it.

A fever or a stay at altitude speeds the pump up from the moment it starts (docs/domain.md), so
the reservoir empties earlier than the fill planned: the due date is recomputed from the residual
expected now and the flow under the new conditions, and the booking follows.
"""

from datetime import datetime

from sqlmodel import Session

from pump_service.persistence.models import ConditionPeriodRow
from pump_service.services.actor import Actor
from pump_service.services.contracts import ConditionEntry
from pump_service.services.pumps.registry import add_condition_period, get_pump
from pump_service.services.pumps.state import (
    condition_periods_of,
    current_planning_rate,
    expected_residual_at,
    pump_id_of,
)
from pump_service.services.scheduling.replanning import replan_from_reading
from pump_service.settings import Settings
from schemas.pump_catalogue import get_pump_model

__all__ = ["record_conditions"]


def record_conditions(
    session: Session, serial: str, entry: ConditionEntry, *, settings: Settings, actor: Actor, now: datetime
) -> ConditionPeriodRow:
    """Add the condition period, then replan the pump from what it should hold now.

    Raises:
        NotFoundError, RuleViolationError, ConflictError: as :func:`add_condition_period`.
    """
    row = add_condition_period(session, serial, entry, actor=actor, now=now)
    pump = get_pump(session, serial)
    model = get_pump_model(pump.model_id)
    periods = condition_periods_of(session, pump_id_of(pump))
    residual = expected_residual_at(pump, model, periods, now)
    if residual is None:
        return row  # never filled: nothing to plan yet
    rate = current_planning_rate(session, pump, at=now).rate_ml_per_day
    pump.planning_rate_ml_per_day = rate
    replan_from_reading(
        session,
        pump,
        reservoir_ml=residual,
        reading_at=now,
        daily_volume_ml=rate,
        settings=settings,
        actor=actor,
        now=now,
    )
    session.add(pump)
    session.flush()
    return row
