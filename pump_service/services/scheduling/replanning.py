"""Recompute a pump's due date from a fresh reservoir reading and book accordingly.

A refill plans from the fill; an interrogation, a prescription change or a condition change plans
from what the pump holds now. The fixed constraints (drug stability, protocol and longest
interval) still count from the last fill; the alarm and empty dates come from the reading.
"""

from datetime import datetime

from sqlmodel import Session, col, select

from pump_service.domain.due import FILL_CONSTRAINTS, DueConstraint, DueDate, DueReason, next_refill_due
from pump_service.domain.reservoir import forecast_reservoir
from pump_service.persistence.models import Pump, Refill
from pump_service.persistence.rows import pump_id_of
from pump_service.services.actor import Actor
from pump_service.services.scheduling.booking import book_next_refill
from pump_service.settings import Settings
from schemas.pump_catalogue import get_pump_model

__all__ = ["replan_from_reading"]


def _fill_constraints(session: Session, pump_id: int) -> list[DueConstraint]:
    """The stability, protocol and longest-interval dates the last refill's plan decided."""
    last = session.exec(
        select(Refill).where(Refill.pump_id == pump_id).order_by(col(Refill.performed_at).desc()).limit(1)
    ).first()
    if last is None:
        return []
    return [
        DueConstraint(DueReason(c["reason"]), datetime.fromisoformat(c["due_at"]))
        for c in last.due_constraints
        if DueReason(c["reason"]) in FILL_CONSTRAINTS
    ]


def replan_from_reading(
    session: Session,
    pump: Pump,
    *,
    reservoir_ml: float,
    reading_at: datetime,
    daily_volume_ml: float,
    low_reservoir_ml: float | None = None,
    settings: Settings,
    actor: Actor,
    now: datetime,
) -> DueDate:
    """Forecast from ``reservoir_ml`` at ``reading_at``, recompute the due date, book to it."""
    pump_id = pump_id_of(pump)
    model = get_pump_model(pump.model_id)
    forecast = forecast_reservoir(
        volume_ml=reservoir_ml,
        at=reading_at,
        daily_volume_ml=daily_volume_ml,
        low_reservoir_ml=model.low_reservoir_ml if low_reservoir_ml is None else low_reservoir_ml,
        near_empty_ml=model.near_empty_ml,
    )
    fixed = _fill_constraints(session, pump_id)
    due = next_refill_due(
        filled_at=pump.last_fill_at or reading_at,
        forecast=forecast,
        safety_margin_days=settings.safety_margin_days,
        # Never filled through the service: the model's intervals from the fill (or this reading).
        protocol_interval_days=None if fixed else model.protocol_interval_days,
        max_interval_days=None if fixed else model.max_interval_days,
        fixed=fixed,
    )
    book_next_refill(session, pump, due=due, forecast=forecast, settings=settings, actor=actor, now=now)
    return due
