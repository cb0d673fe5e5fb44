"""Charge capture in the service: store a visit's charges once, list, void or credit, export.

:func:`record_visit_charges` is called inside the refill transaction: it builds the visit's facts
(:mod:`.charge_facts`), computes the whole charge set and stores one :class:`ChargeEventRow` per
line, or raises, so that a refill and its charges land together or not at all. Event ids are
deterministic, so the same visit computed again yields the same ids and nothing new is stored;
a visit whose stored lines differ from a recomputation is a conflict, never a second set.

Stored charges are never edited. :func:`void_charge` adds a correction: a void while the billing
system has not received the line, a credit once it has. Delivery (:mod:`.charge_delivery`,
re-exported here as :func:`dispatch_pending`) only moves the rows' delivery columns; how a row is
shown is in :mod:`.charge_views`.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session, col, select

from pump_service.billing import (
    BillingWarning,
    ChargeEvent,
    ChargeSet,
    ChargeStatus,
    EventKind,
    ExportFormat,
    compute_charges,
    credit_event,
    export_csv,
    export_dft_p03,
    export_fhir_bundle,
    void_event,
)
from pump_service.billing.exports.dft_p03 import posts_in_dft
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.charge_models import ChargeEventRow, DeliveryState
from pump_service.persistence.models import Pump, Refill, RefillComponent
from pump_service.services.actor import Actor
from pump_service.services.charges.dispatch import dispatch_pending, parse_export_format
from pump_service.services.charges.views import stored_event
from pump_service.services.charges.visit_facts import patient_ref_of, reference_for, visit_facts
from pump_service.services.contracts import RefillEntry
from pump_service.settings import Settings

__all__ = [
    "ChargeExport",
    "VisitCharges",
    "dispatch_pending",
    "export_charges",
    "list_charges",
    "precheck_visit_charges",
    "record_visit_charges",
    "store_charge_set",
    "void_charge",
]

_MEDIA = {
    ExportFormat.FHIR: ("application/fhir+json", "json"),
    ExportFormat.HL7V2: ("x-application/hl7-v2+er7; charset=utf-8", "hl7"),
    ExportFormat.CSV: ("text/csv; charset=utf-8", "csv"),
}


@dataclass(frozen=True, slots=True)
class VisitCharges:
    """The visit's stored charge rows in line order, how many this call added, and the engine's warnings.

    ``warnings`` are the coverage pre-check (R17) and review notes, for the nurse to see; they
    never change a line. A pump without a patient is not billed: no rows and a ``no_patient`` warning.
    """

    rows: list[ChargeEventRow]
    added: int
    warnings: tuple[BillingWarning, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ChargeExport:
    body: str
    media_type: str
    suffix: str


_NO_PATIENT = BillingWarning(rule=None, code="no_patient", message="the pump has no patient: nothing is billed")


def _charge_set(
    session: Session,
    *,
    visit_key: str,
    refill: Refill,
    pump: Pump,
    entry: RefillEntry,
    settings: Settings,
    actor: Actor,
    prescription_changed: bool,
    analysis_done: bool,
    components: Sequence[RefillComponent] | None = None,
) -> ChargeSet | None:
    """The visit's charge set computed from its facts; None for a pump without a patient (not billed)."""
    patient_ref = patient_ref_of(session, pump)
    if patient_ref is None:
        return None
    facts = visit_facts(
        session,
        visit_key=visit_key,
        patient_ref=patient_ref,
        refill=refill,
        pump=pump,
        entry=entry,
        settings=settings,
        actor=actor,
        prescription_changed=prescription_changed,
        analysis_done=analysis_done,
        components=components,
    )
    return compute_charges(facts, reference_for(facts.service_date))


def precheck_visit_charges(
    session: Session,
    *,
    visit_key: str,
    refill: Refill,
    components: Sequence[RefillComponent],
    pump: Pump,
    entry: RefillEntry,
    settings: Settings,
    actor: Actor,
    prescription_changed: bool,
    analysis_done: bool,
) -> tuple[BillingWarning, ...]:
    """Compute the charges of a planned (not yet stored) refill, store nothing, return the warnings.

    Run before a pump is written, so a billing fact that does not add up stops the visit there.

    Raises:
        RuleViolationError, BillingDataError: as :func:`record_visit_charges`.
    """
    charges = _charge_set(
        session,
        visit_key=visit_key,
        refill=refill,
        pump=pump,
        entry=entry,
        settings=settings,
        actor=actor,
        prescription_changed=prescription_changed,
        analysis_done=analysis_done,
        components=components,
    )
    return (_NO_PATIENT,) if charges is None else charges.warnings


def record_visit_charges(
    session: Session,
    *,
    visit_key: str,
    refill: Refill,
    pump: Pump,
    entry: RefillEntry,
    settings: Settings,
    actor: Actor,
    now: datetime,
    prescription_changed: bool,
    analysis_done: bool,
) -> VisitCharges:
    """Compute and store the charges of the refill visit ``visit_key`` in the caller's transaction.

    Call it after ``refill`` and its components are flushed. Calling it again for the same visit
    adds nothing and returns the stored rows.

    Raises:
        RuleViolationError: a billing fact is refused (``field`` names the request field), or an
            unknown supply code.
        BillingDataError: the payer profile or a drug's billing entry is missing from the
            reference data, or the data cannot be loaded for the service date.
        ConflictError: the visit already has stored charges that differ from this computation.
    """
    charges = _charge_set(
        session,
        visit_key=visit_key,
        refill=refill,
        pump=pump,
        entry=entry,
        settings=settings,
        actor=actor,
        prescription_changed=prescription_changed,
        analysis_done=analysis_done,
    )
    return store_charge_set(session, charges, visit_key=visit_key, refill_id=refill.id, actor=actor, now=now)


def store_charge_set(
    session: Session,
    charges: ChargeSet | None,
    *,
    visit_key: str,
    refill_id: int | None,
    actor: Actor,
    now: datetime,
) -> VisitCharges:
    """Store the computed ``charges`` of visit ``visit_key`` once (None: a pump without a patient).

    Raises:
        ConflictError: the visit already has stored charges that differ from ``charges``.
    """
    if charges is None:
        return VisitCharges(rows=[], added=0, warnings=(_NO_PATIENT,))
    stored = {
        row.event_id: row
        for row in session.exec(
            select(ChargeEventRow).where(
                ChargeEventRow.visit_key == visit_key, ChargeEventRow.kind == EventKind.CHARGE.value
            )
        ).all()
    }
    if stored and set(stored) != {line.event_id for line in charges.lines}:
        raise ConflictError(
            f"visit {visit_key} already has {len(stored)} stored charge lines that differ from its facts now: "
            "stored charges are never replaced; void them and bill the visit again under a new revision"
        )
    added = [
        _row(line, refill_id=refill_id, actor=actor, now=now) for line in charges.lines if line.event_id not in stored
    ]
    session.add_all(added)
    session.flush()
    rows = [
        stored.get(line.event_id) or next(r for r in added if r.event_id == line.event_id) for line in charges.lines
    ]
    return VisitCharges(rows=rows, added=len(added), warnings=charges.warnings)


def list_charges(
    session: Session,
    *,
    status: ChargeStatus | str | None = None,
    delivery: DeliveryState | str | None = None,
    since: datetime | None = None,
    visit_key: str | None = None,
) -> list[ChargeEventRow]:
    """Stored events, oldest first; ``since`` filters on when they were recorded.

    Raises:
        RuleViolationError: an unknown ``status`` or ``delivery`` value.
    """
    query = select(ChargeEventRow).order_by(col(ChargeEventRow.id))
    if status is not None:
        query = query.where(ChargeEventRow.status == _choice(ChargeStatus, status, "status").value)
    if delivery is not None:
        query = query.where(ChargeEventRow.delivery_status == _choice(DeliveryState, delivery, "delivery").value)
    if since is not None:
        query = query.where(col(ChargeEventRow.created_at) >= since)
    if visit_key is not None:
        query = query.where(ChargeEventRow.visit_key == visit_key)
    return list(session.exec(query).all())


def void_charge(session: Session, event_id: str, *, reason: str, actor: Actor, now: datetime) -> ChargeEventRow:
    """Correct the stored charge ``event_id`` with a new event and return its row.

    A void (FHIR ``entered-in-error``) while the billing system has not received the charge; a
    credit (a reversal) once a billable charge was delivered. The original row is not changed.

    Raises:
        NotFoundError: no event with that id.
        RuleViolationError: the event is itself a void or a credit, or ``reason`` is blank.
        ConflictError: the charge was already voided or credited.
    """
    row = session.exec(select(ChargeEventRow).where(ChargeEventRow.event_id == event_id)).first()
    if row is None:
        raise NotFoundError(f"no charge event {event_id}")
    if row.kind != EventKind.CHARGE.value:
        raise RuleViolationError(f"event {event_id} is a {row.kind}: correct the original charge", field="event_id")
    earlier = session.exec(select(ChargeEventRow).where(ChargeEventRow.original_event_id == event_id)).first()
    if earlier is not None:
        raise ConflictError(f"charge {event_id} was already corrected by {earlier.kind} {earlier.event_id}")
    original = stored_event(row)
    billed = row.delivery_status == DeliveryState.DELIVERED.value and original.status is ChargeStatus.BILLABLE
    try:
        event = credit_event(original, reason, now) if billed else void_event(original, reason, now)
    except ValueError as exc:
        raise RuleViolationError(str(exc), field="reason") from exc
    correction = _row(event, refill_id=row.refill_id, actor=actor, now=now)
    session.add(correction)
    session.flush()
    return correction


def export_charges(
    session: Session,
    fmt: ExportFormat | str,
    *,
    now: datetime,
    visit_key: str | None = None,
    status: ChargeStatus | str | None = None,
    delivery: DeliveryState | str | None = None,
    since: datetime | None = None,
) -> ChargeExport:
    """The stored events (filtered as in :func:`list_charges`) as FHIR, HL7 v2 or CSV text.

    FHIR is one collection Bundle; HL7 v2 is one DFT^P03 message per visit with something to post
    (message time ``now``), concatenated; CSV has the fixed header and one row per event.

    Raises:
        RuleViolationError: an unknown format or filter value.
    """
    export = parse_export_format(fmt)
    events = [
        stored_event(r)
        for r in list_charges(session, status=status, delivery=delivery, since=since, visit_key=visit_key)
    ]
    media, suffix = _MEDIA[export]
    if export is ExportFormat.FHIR:
        body = json.dumps(export_fhir_bundle(events), ensure_ascii=False, indent=2)
    elif export is ExportFormat.CSV:
        body = export_csv(events)
    else:
        visits: dict[str, list[ChargeEvent]] = {}
        for event in events:
            visits.setdefault(event.visit_key, []).append(event)
        body = "".join(
            export_dft_p03(group, at=now) for group in visits.values() if any(posts_in_dft(e) for e in group)
        )
    return ChargeExport(body=body, media_type=media, suffix=suffix)


def _row(event: ChargeEvent, *, refill_id: int | None, actor: Actor, now: datetime) -> ChargeEventRow:
    return ChargeEventRow(
        event_id=event.event_id,
        kind=event.kind.value,
        original_event_id=event.original_event_id,
        visit_key=event.visit_key,
        refill_id=refill_id,
        patient_ref=event.patient_ref,
        service_date=event.service_date,
        code=event.code,
        status=event.status.value,
        event=event.model_dump(mode="json"),
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
    )


_Choice = TypeVar("_Choice", ChargeStatus, DeliveryState)


def _choice(kind: type[_Choice], value: _Choice | str, name: str) -> _Choice:
    try:
        return kind(value)
    except ValueError as exc:
        choices = ", ".join(member.value for member in kind)
        raise RuleViolationError(f"unknown {name} {value!r}: one of {choices}", field=name) from exc
