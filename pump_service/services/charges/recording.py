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
from typing import Any

from sqlalchemy import and_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

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
from pump_service.persistence.rows import clinic_id_of
from pump_service.persistence.schedule_models import Clinic
from pump_service.services.actor import Actor
from pump_service.services.charges.clinic_billing import billing_reference
from pump_service.services.charges.contracts import (
    ChargePage,
    ChargeQuery,
    ChargeView,
    ShownStatus,
    decode_cursor,
    encode_cursor,
    parse_model,
)
from pump_service.services.charges.dispatch import dispatch_pending, parse_export_format
from pump_service.services.charges.views import charge_view, stored_event
from pump_service.services.charges.visit_facts import patient_ref_of, service_date_of, visit_facts
from pump_service.services.contracts import RefillEntry
from pump_service.services.scheduling.clinics import get_clinic, pump_clinic
from pump_service.settings import Settings

__all__ = [
    "ChargeExport",
    "VisitCharges",
    "charge_views",
    "dispatch_pending",
    "export_charges",
    "list_charge_page",
    "list_charges",
    "plan_visit_charges",
    "record_visit_charges",
    "store_charge_set",
    "store_planned_charges",
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
    reference, clinic_billing = billing_reference(
        session, pump, settings, service_date_of(session, pump, refill.performed_at, settings)
    )
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
        clinic_billing=clinic_billing,
    )
    if facts.payer_profile not in reference.profiles:
        known = ", ".join(sorted(reference.profiles))
        raise RuleViolationError(
            f"unknown payer profile {facts.payer_profile!r} on {facts.service_date} (known: {known})",
            field="billing.payer_profile",
        )
    return compute_charges(facts, reference)


def plan_visit_charges(
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
) -> ChargeSet | None:
    """The charge set of a planned (not yet stored) refill; None for a pump without a patient.

    Raises:
        RuleViolationError, BillingDataError: as :func:`record_visit_charges`.
    """
    return _charge_set(
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


def store_planned_charges(
    session: Session,
    charges: ChargeSet | None,
    *,
    visit_key: str,
    refill: Refill,
    pump: Pump,
    settings: Settings,
    actor: Actor,
    now: datetime,
) -> VisitCharges:
    """Store the set :func:`plan_visit_charges` computed, in the same transaction as the plan.

    For a visit planned and stored in one transaction with nothing billing reads changed in
    between (a constant-flow refill): the charges are computed once, not again from the rows.

    Raises:
        ConflictError: the visit already has stored charges that differ from ``charges``.
    """
    clinic = pump_clinic(session, pump, settings)  # the clinic whose set-up priced it files it
    return store_charge_set(
        session,
        charges,
        visit_key=visit_key,
        refill_id=refill.id,
        clinic_id=clinic.id if clinic is not None else None,
        actor=actor,
        now=now,
    )


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
    clinic = pump_clinic(session, pump, settings)  # the clinic whose set-up priced it files it
    return store_charge_set(
        session,
        charges,
        visit_key=visit_key,
        refill_id=refill.id,
        clinic_id=clinic.id if clinic is not None else None,
        actor=actor,
        now=now,
    )


def store_charge_set(
    session: Session,
    charges: ChargeSet | None,
    *,
    visit_key: str,
    refill_id: int | None,
    clinic_id: int | None,
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
        _row(line, refill_id=refill_id, clinic_id=clinic_id, actor=actor, now=now, version=charges.reference_version)
        for line in charges.lines
        if line.event_id not in stored
    ]
    session.add_all(added)
    session.flush()
    rows = [
        stored.get(line.event_id) or next(r for r in added if r.event_id == line.event_id) for line in charges.lines
    ]
    return VisitCharges(rows=rows, added=len(added), warnings=charges.warnings)


def list_charges(session: Session, query: ChargeQuery | None = None, **filters: Any) -> list[ChargeEventRow]:
    """Every stored event matching ``query`` and ``filters``, oldest first, without paging.

    ``filters`` are fields of :class:`ChargeQuery`; exports and delivery use every page at once.

    Raises:
        NotFoundError: ``clinic`` names no clinic.
        RuleViolationError: a filter value is refused (``field`` names it).
    """
    return list(session.exec(_filtered(session, _merged(query, filters))).all())


def _merged(query: ChargeQuery | None, filters: dict[str, Any]) -> ChargeQuery:
    if not filters:
        return query or ChargeQuery()
    base = query.model_dump(exclude_unset=True) if query is not None else {}
    return parse_model(ChargeQuery, {**base, **filters})


def list_charge_page(session: Session, query: ChargeQuery) -> ChargePage:
    """One page of the events matching ``query``, in recording order, and the cursor of the next page.

    Raises:
        NotFoundError: ``query.clinic`` names no clinic.
        RuleViolationError: ``query.cursor`` is not a cursor of this list.
    """
    statement = _filtered(session, query)
    if query.cursor is not None:
        statement = statement.where(col(ChargeEventRow.id) > decode_cursor(query.cursor))
    rows = list(session.exec(statement.limit(query.limit + 1)).all())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    last = rows[-1].id if more and rows else None
    return ChargePage(items=charge_views(session, rows), next_cursor=None if last is None else encode_cursor(last))


def charge_views(session: Session, rows: Sequence[ChargeEventRow]) -> list[ChargeView]:
    """The views of ``rows``, with each row's clinic id looked up once."""
    keys = {row.clinic_id for row in rows if row.clinic_id is not None}
    names = (
        dict(session.exec(select(Clinic.id, Clinic.clinic_id).where(col(Clinic.id).in_(keys))).all()) if keys else {}
    )
    return [charge_view(row, names.get(row.clinic_id) if row.clinic_id is not None else None) for row in rows]


def _filtered(session: Session, query: ChargeQuery) -> SelectOfScalar[ChargeEventRow]:
    statement = select(ChargeEventRow).order_by(col(ChargeEventRow.id))
    uncorrected = and_(
        col(ChargeEventRow.voided_by_event_id).is_(None), col(ChargeEventRow.credited_by_event_id).is_(None)
    )
    if query.status in {ShownStatus.BILLABLE, ShownStatus.NOT_BILLABLE, ShownStatus.ENTERED_IN_ERROR}:
        statement = statement.where(ChargeEventRow.status == query.status.value, uncorrected)
    elif query.status is ShownStatus.VOIDED:
        statement = statement.where(col(ChargeEventRow.voided_by_event_id).is_not(None))
    elif query.status is ShownStatus.CREDITED:
        statement = statement.where(col(ChargeEventRow.credited_by_event_id).is_not(None))
    if query.delivery is not None:
        statement = statement.where(ChargeEventRow.delivery_status == query.delivery.value)
    if query.service_from is not None:
        statement = statement.where(col(ChargeEventRow.service_date) >= query.service_from)
    if query.service_to is not None:
        statement = statement.where(col(ChargeEventRow.service_date) <= query.service_to)
    if query.recorded_since is not None:
        statement = statement.where(col(ChargeEventRow.created_at) >= query.recorded_since)
    if query.visit_key is not None:
        statement = statement.where(ChargeEventRow.visit_key == query.visit_key)
    if query.payer_profile is not None:
        statement = statement.where(ChargeEventRow.payer_profile == query.payer_profile)
    if query.clinic is not None:
        statement = statement.where(ChargeEventRow.clinic_id == clinic_id_of(get_clinic(session, query.clinic)))
    return statement


def void_charge(session: Session, event_id: str, *, reason: str, actor: Actor, now: datetime) -> ChargeEventRow:
    """Correct the stored charge ``event_id`` with a new event and return its row.

    A void (FHIR ``entered-in-error``) while the billing system has not received the charge; a
    credit (a reversal) once a billable charge was delivered. The original's stored event is not
    changed; its ``voided_by_event_id`` / ``credited_by_event_id`` link is set, so it is shown
    ``voided`` / ``credited`` and no longer listed as billable.

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
    if earlier is not None or row.voided_by_event_id or row.credited_by_event_id:
        earlier = (
            earlier
            or session.exec(
                select(ChargeEventRow).where(
                    ChargeEventRow.event_id == (row.voided_by_event_id or row.credited_by_event_id)
                )
            ).one()
        )
        raise ConflictError(f"charge {event_id} was already corrected by {earlier.kind} {earlier.event_id}")
    original = stored_event(row)
    billed = row.delivery_status == DeliveryState.DELIVERED.value and original.status is ChargeStatus.BILLABLE
    try:
        event = credit_event(original, reason, now) if billed else void_event(original, reason, now)
    except ValueError as exc:
        raise RuleViolationError(str(exc), field="reason") from exc
    correction = _row(
        event, refill_id=row.refill_id, clinic_id=row.clinic_id, actor=actor, now=now, version=row.reference_version
    )
    # The original's billing content stays as stored; only its link to the correction is set.
    if event.kind is EventKind.VOID:
        row.voided_by_event_id = event.event_id
    else:
        row.credited_by_event_id = event.event_id
    session.add_all([correction, row])
    session.flush()
    return correction


def export_charges(
    session: Session, fmt: ExportFormat | str, *, now: datetime, query: ChargeQuery | None = None, **filters: Any
) -> ChargeExport:
    """The stored events matching ``query`` and ``filters`` (every page) as FHIR, HL7 v2 or CSV text.

    FHIR is one collection Bundle; HL7 v2 is one DFT^P03 message per visit with something to post
    (message time ``now``), concatenated; CSV has the fixed header and one row per event.

    Raises:
        RuleViolationError: an unknown format.
        NotFoundError: ``query.visit_key`` names a visit with no stored charges, or an unknown clinic.
    """
    export = parse_export_format(fmt)
    query = _merged(query, filters)
    if (
        query.visit_key is not None
        and not session.exec(
            select(ChargeEventRow.id).where(ChargeEventRow.visit_key == query.visit_key).limit(1)
        ).first()
    ):
        raise NotFoundError(f"no charges stored for visit {query.visit_key}")
    events = [stored_event(r) for r in list_charges(session, query)]
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


def _row(
    event: ChargeEvent,
    *,
    refill_id: int | None,
    clinic_id: int | None,
    actor: Actor,
    now: datetime,
    version: str | None,
) -> ChargeEventRow:
    return ChargeEventRow(
        reference_version=version,
        payer_profile=event.payer_profile,
        clinic_id=clinic_id,
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
