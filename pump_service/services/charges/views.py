"""How stored charge events are shown: the API's and the CLI's view of a row, and the event it holds."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from pump_service.billing import ChargeEvent, ChargeStatus, EventKind
from pump_service.persistence.charge_models import ChargeEventRow, DeliveryState

__all__ = ["ChargeView", "charge_view", "stored_event"]


class ChargeView(BaseModel):
    """A stored event as the API and the CLI show it."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    kind: EventKind
    original_event_id: str | None
    visit_key: str
    refill_id: int | None
    patient_ref: str
    service_date: str
    code: str
    descriptor: str
    modifiers: tuple[str, ...]
    units: int
    status: ChargeStatus
    status_reason: str | None
    expected_allowable_usd: float | None
    delivery_status: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime
    created_by: str


def stored_event(row: ChargeEventRow) -> ChargeEvent:
    """The billing event a row stores."""
    return ChargeEvent.model_validate(row.event)


def charge_view(row: ChargeEventRow) -> ChargeView:
    event = stored_event(row)
    return ChargeView(
        event_id=row.event_id,
        kind=event.kind,
        original_event_id=event.original_event_id,
        visit_key=row.visit_key,
        refill_id=row.refill_id,
        patient_ref=row.patient_ref,
        service_date=row.service_date.isoformat(),
        code=event.code,
        descriptor=event.descriptor,
        modifiers=event.modifiers,
        units=event.units,
        status=event.status,
        status_reason=event.status_reason,
        expected_allowable_usd=event.expected_allowable_usd,
        delivery_status=DeliveryState(row.delivery_status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
        created_at=row.created_at,
        created_by=row.created_by,
    )
