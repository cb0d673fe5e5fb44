"""How stored charge events are shown: the API's and the CLI's view of a row, and the event it holds."""

from pump_service.billing import ChargeEvent, EventKind
from pump_service.persistence.charge_models import ChargeEventRow, DeliveryState
from pump_service.services.charges.contracts import ChargeView, ShownStatus

__all__ = ["ChargeView", "charge_view", "shown_status", "stored_event"]


def stored_event(row: ChargeEventRow) -> ChargeEvent:
    """The billing event a row stores."""
    return ChargeEvent.model_validate(row.event)


def shown_status(row: ChargeEventRow, event: ChargeEvent | None = None) -> ShownStatus:
    """``voided``/``credited`` for a corrected charge, otherwise the engine's status."""
    kind = event.kind if event is not None else EventKind(row.kind)
    if kind is EventKind.CHARGE and row.voided_by_event_id is not None:
        return ShownStatus.VOIDED
    if kind is EventKind.CHARGE and row.credited_by_event_id is not None:
        return ShownStatus.CREDITED
    return ShownStatus(event.status.value if event is not None else row.status)


def charge_view(row: ChargeEventRow, clinic: str | None = None) -> ChargeView:
    """The view of ``row``; ``clinic`` is the clinic's id as people know it (the row holds its key)."""
    event = stored_event(row)
    return ChargeView(
        event_id=row.event_id,
        kind=event.kind,
        original_event_id=event.original_event_id,
        voided_by_event_id=row.voided_by_event_id,
        credited_by_event_id=row.credited_by_event_id,
        visit_key=row.visit_key,
        refill_id=row.refill_id,
        clinic=clinic,
        patient_ref=row.patient_ref,
        service_date=row.service_date.isoformat(),
        code=event.code,
        descriptor=event.descriptor,
        modifiers=event.modifiers,
        units=event.units,
        status=shown_status(row, event),
        billing_status=event.status,
        status_reason=event.status_reason,
        payer_profile=event.payer_profile,
        reference_version=row.reference_version,
        expected_allowable_usd=event.expected_allowable_usd,
        delivery_status=DeliveryState(row.delivery_status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
        created_at=row.created_at,
        created_by=row.created_by,
        station_id=row.station_id,
    )
