"""Deterministic event ids, and corrections as new events (never mutation).

A line's id is a UUID5 of ``(visit key, code, modifiers, line number)`` (plus the revision when it
is not 0), so recomputing the same visit yields the same ids and the store's unique key makes a
replay harmless. A correction is a new event whose id derives from the original's:

* :func:`void_event` before the billing system has billed the line: FHIR ``entered-in-error``,
  HL7 a CD transaction referencing the original;
* :func:`credit_event` after billing: a reversing credit (FHIR negative quantity, HL7 CD).

Voiding or crediting the same original twice gives the same id again, so a retried correction is
also idempotent.
"""

import uuid
from datetime import datetime
from typing import Any

from pump_service.billing.charges import ChargeEvent, ChargeStatus, EventKind
from schemas.clock import as_utc

__all__ = ["EVENT_NAMESPACE", "credit_event", "line_event_id", "void_event"]

EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pump-service.example.org/billing/charge-event")


def line_event_id(visit_key: str, revision: int, code: str, modifiers: tuple[str, ...], line_number: int) -> str:
    """The event id of a charge line (a UUID5 string)."""
    parts = [visit_key, code, "+".join(modifiers), str(line_number)]
    if revision:
        parts.append(f"r{revision}")
    return str(uuid.uuid5(EVENT_NAMESPACE, "|".join(parts)))


def void_event(original: ChargeEvent, reason: str, at: datetime) -> ChargeEvent:
    """Mark ``original`` as entered in error, as a new event recorded at ``at``.

    Raises:
        ValueError: ``original`` is itself a correction, ``reason`` is blank, or ``at`` is naive.
    """
    return _correction(original, EventKind.VOID, ChargeStatus.ENTERED_IN_ERROR, reason, at)


def credit_event(original: ChargeEvent, reason: str, at: datetime) -> ChargeEvent:
    """Reverse a billed ``original`` with a credit recorded at ``at``.

    Raises:
        ValueError: ``original`` is a correction or was not billable (nothing was billed to
            credit), ``reason`` is blank, or ``at`` is naive.
    """
    if original.status is not ChargeStatus.BILLABLE:
        raise ValueError(f"event {original.event_id} is {original.status.value}: there is no billed charge to credit")
    return _correction(original, EventKind.CREDIT, ChargeStatus.BILLABLE, reason, at)


def _correction(original: ChargeEvent, kind: EventKind, status: ChargeStatus, reason: str, at: datetime) -> ChargeEvent:
    if original.kind is not EventKind.CHARGE:
        raise ValueError(f"event {original.event_id} is a {original.kind.value}: correct the original charge instead")
    if not reason.strip():
        raise ValueError("a correction needs a reason")
    fields: dict[str, Any] = original.model_dump()
    fields.update(
        event_id=str(uuid.uuid5(EVENT_NAMESPACE, f"{kind.value}|{original.event_id}")),
        kind=kind,
        original_event_id=original.event_id,
        original_status=original.status,
        status=status,
        status_reason=reason.strip(),
        recorded_at=as_utc(at, field="at"),
        review_required=False,
    )
    return ChargeEvent.model_validate(fields)
