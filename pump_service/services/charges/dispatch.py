"""The delivery step: send stored charge events that are due, and record what happened to each.

A delivery is three steps, so that the slow part holds no database lock:

1. :func:`due_charges` (a short transaction): every ``pending`` row of each visit with a row due
   now (``next_attempt_at`` unset or past), with the attempts made so far, claimed for this
   dispatcher by an atomic compare-and-set that moves ``next_attempt_at`` past the sending, so a
   second dispatcher (two scheduler leaders overlapping during a takeover) sends none of them. A
   visit's rows always travel together, as :func:`pump_service.billing.deliver` requires.
2. :func:`pump_service.billing.deliver`, outside any transaction.
3. :func:`record_outcomes` (a short transaction): each outcome is written only if its row is still
   ``pending`` with the attempt count read in step 1, so an attempt is recorded exactly once even
   if two dispatchers raced; a delivered row is never picked up again.

:func:`dispatch_pending` runs all three in the caller's session (tests, one-off use); the
scheduler runs them as three steps (``pump_service.scheduler.charge_dispatch``). On the wire,
delivery is at least once: a crash between sending and recording resends the same event ids,
which the receiver de-duplicates (the drop-folder file name derives from them).

The destination comes from the settings ``charge_destination_url`` (HTTP POST) or
``charge_drop_folder`` (files), in ``charge_export_format`` (``fhir``, ``hl7`` or ``csv``).
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col, func, or_, select

from pump_service.billing import (
    ChargeEvent,
    DeliveryOutcome,
    DeliveryStatus,
    ExportFormat,
    FolderDestination,
    HttpDestination,
    RetryPolicy,
    deliver,
)
from pump_service.billing.delivery import HttpSender, urllib_post
from pump_service.errors import RuleViolationError
from pump_service.persistence.charge_models import ChargeEventRow, DeliveryState
from pump_service.services.audit.pending import capture
from pump_service.settings import Settings

__all__ = [
    "DEFAULT_CLAIM_S",
    "DispatchReport",
    "DueCharges",
    "charge_destination",
    "dispatch_pending",
    "due_charges",
    "parse_export_format",
    "record_outcomes",
]

Destination = HttpDestination | FolderDestination
_FORMAT_NAMES = {
    "fhir": ExportFormat.FHIR,
    "hl7": ExportFormat.HL7V2,
    "hl7v2": ExportFormat.HL7V2,
    "csv": ExportFormat.CSV,
}
_STATE = {
    DeliveryStatus.DELIVERED: DeliveryState.DELIVERED,
    DeliveryStatus.RETRY: DeliveryState.PENDING,
    DeliveryStatus.REJECTED: DeliveryState.REJECTED,
    DeliveryStatus.SKIPPED: DeliveryState.SKIPPED,
}
_MAX_ERROR_CHARS = 500
# How long claimed rows are reserved for the dispatcher sending them: longer than a batch of sends
# takes (100 visits, each one HTTP POST or file).
DEFAULT_CLAIM_S = 900.0
CLAIM_NOTE = "claimed for sending: no other dispatcher sends it until the outcome is recorded"
_EVENTS = ChargeEventRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DueCharges:
    """Events to send now, and the attempts each has had (step 1's snapshot)."""

    events: tuple[ChargeEvent, ...]
    attempts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """The outcomes recorded by one delivery step."""

    outcomes: tuple[DeliveryOutcome, ...] = field(default=())

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(o.status.value for o in self.outcomes))


def parse_export_format(value: ExportFormat | str) -> ExportFormat:
    """``fhir``, ``hl7`` (or ``hl7v2``) or ``csv``.

    Raises:
        RuleViolationError: any other name.
    """
    if isinstance(value, ExportFormat):
        return value
    try:
        return _FORMAT_NAMES[value.strip().lower()]
    except KeyError:
        raise RuleViolationError(f"unknown export format {value!r}: fhir, hl7 or csv", field="format") from None


def charge_destination(settings: Settings) -> Destination | None:
    """Where the settings say charges go, or None when neither a URL nor a drop folder is set.

    Raises:
        ValueError: both are set, the URL is not http(s), or the format is unknown.
    """
    # Read with getattr until Settings has these fields (owned by the settings module).
    url = settings.charge_destination_url
    folder = settings.charge_drop_folder
    export = parse_export_format(settings.charge_export_format)
    if url and folder:
        raise ValueError("set charge_destination_url or charge_drop_folder, not both")
    if url:
        return HttpDestination(url, export)
    if folder:
        return FolderDestination(Path(folder), export)
    return None


def due_charges(
    session: Session, *, now: datetime, max_visits: int = 100, claim_s: float = DEFAULT_CLAIM_S
) -> DueCharges:
    """Step 1: claim and return the pending rows of up to ``max_visits`` visits with a row due at ``now``.

    Each visit is claimed whole or not at all (:func:`_claim_visit`): a visit another dispatcher
    claimed or recorded meanwhile is left to it, so two dispatchers never send the same event.
    """
    pending = ChargeEventRow.delivery_status == DeliveryState.PENDING.value
    due = or_(col(ChargeEventRow.next_attempt_at).is_(None), col(ChargeEventRow.next_attempt_at) <= now)
    oldest = func.min(ChargeEventRow.id)
    visits = list(
        session.exec(
            select(ChargeEventRow.visit_key)
            .where(pending, due)
            .group_by(ChargeEventRow.visit_key)
            .order_by(oldest)
            .limit(max_visits)
        ).all()
    )
    if not visits:
        return DueCharges(events=(), attempts={})
    rows = session.exec(
        select(ChargeEventRow)
        .where(pending, col(ChargeEventRow.visit_key).in_(visits))
        .order_by(col(ChargeEventRow.id))
    ).all()
    by_visit: dict[str, list[ChargeEventRow]] = {}
    for row in rows:
        by_visit.setdefault(row.visit_key, []).append(row)
    claimed_until = now + timedelta(seconds=claim_s)
    seen = {row.event_id: row.next_attempt_at for row in rows}
    claimed = [row for visit in by_visit.values() if _claim_visit(session, visit, claimed_until) for row in visit]
    if claimed:  # one audit entry for the step's claims (as the tick audits its due moments)
        capture(
            session,
            action="update",
            entity=_EVENTS.name,
            entity_id=None,
            before={"next_attempt_at": {row.event_id: seen[row.event_id] for row in claimed}},
            after={"next_attempt_at": {row.event_id: claimed_until for row in claimed}},
            note=CLAIM_NOTE,
        )
    return DueCharges(
        events=tuple(ChargeEvent.model_validate(row.event) for row in claimed),
        attempts={row.event_id: row.attempts for row in claimed},
    )


def _claim_visit(session: Session, rows: Sequence[ChargeEventRow], claimed_until: datetime) -> bool:
    """Claim every row of one visit for sending (an atomic compare-and-set each), or none of them.

    The claim moves ``next_attempt_at`` to ``claimed_until``, so no other dispatcher picks the rows
    meanwhile; the recorded outcome replaces it. A dispatcher that dies after claiming leaves the
    rows to come back when the claim runs out (then they are sent again, with the same event ids).
    """
    seen = [(row, row.next_attempt_at) for row in rows]
    savepoint = session.begin_nested()
    connection = session.connection()
    for row, next_attempt_at in seen:
        result = connection.execute(
            update(_EVENTS)
            .where(
                _EVENTS.c.id == row.id,
                _EVENTS.c.delivery_status == DeliveryState.PENDING.value,
                _EVENTS.c.attempts == row.attempts,
                _EVENTS.c.next_attempt_at.is_not_distinct_from(next_attempt_at),
            )
            .values(next_attempt_at=claimed_until)
        )
        if result.rowcount != 1:
            savepoint.rollback()  # another dispatcher has (part of) this visit: leave all of it
            return False
    savepoint.commit()
    for row, _seen in seen:
        session.expire(row, ["next_attempt_at"])
    return True


def record_outcomes(
    session: Session, due: DueCharges, outcomes: Sequence[DeliveryOutcome], *, now: datetime
) -> DispatchReport:
    """Step 3: store each outcome on its row, unless another dispatcher already recorded that attempt."""
    ids = [o.event_id for o in outcomes]
    rows = {r.event_id: r for r in session.exec(select(ChargeEventRow).where(col(ChargeEventRow.event_id).in_(ids)))}
    recorded = []
    for outcome in outcomes:
        row = rows.get(outcome.event_id)
        if row is None or row.delivery_status != DeliveryState.PENDING.value:
            continue
        if row.attempts != due.attempts.get(outcome.event_id):
            continue
        row.delivery_status = _STATE[outcome.status].value
        if outcome.status is not DeliveryStatus.SKIPPED:
            row.attempts = outcome.attempt
        row.next_attempt_at = outcome.retry_at
        row.delivered_at = now if outcome.status is DeliveryStatus.DELIVERED else None
        row.last_error = outcome.reason[:_MAX_ERROR_CHARS] if outcome.reason else None
        session.add(row)
        recorded.append(outcome)
    session.flush()
    return DispatchReport(outcomes=tuple(recorded))


def dispatch_pending(
    session: Session,
    destination: Destination,
    *,
    now: datetime,
    policy: RetryPolicy | None = None,
    send: HttpSender = urllib_post,
) -> DispatchReport:
    """Deliver what is due at ``now`` and record the outcomes, all in the caller's transaction.

    The transaction stays open while sending; the scheduler uses the three steps separately.
    """
    due = due_charges(session, now=now)
    if not due.events:
        return DispatchReport()
    outcomes = deliver(due.events, destination, now=now, attempts=due.attempts, policy=policy, send=send)
    return record_outcomes(session, due, outcomes, now=now)
