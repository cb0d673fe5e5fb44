"""The daily batch a biller works: one clinic's charges for one date of service, totalled by payer."""

from collections import defaultdict
from datetime import date

from sqlmodel import Session, col, select

from pump_service.billing import ChargeStatus, EventKind
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.rows import clinic_id_of
from pump_service.services.charges.contracts import DEFAULT_PAGE_LIMIT, BatchTotal, ChargeBatch, ChargeQuery
from pump_service.services.charges.recording import list_charge_page
from pump_service.services.charges.views import stored_event
from pump_service.services.scheduling.clinics import get_clinic

__all__ = ["charge_batch"]


def charge_batch(
    session: Session, *, clinic: str, service_date: date, limit: int = DEFAULT_PAGE_LIMIT, cursor: str | None = None
) -> ChargeBatch:
    """The clinic's charges for ``service_date``, totalled by payer, with one page of the day's events.

    Counts and totals cover the billable, uncorrected charge lines; the page lists every event of
    the day (charges and corrections).

    Raises:
        NotFoundError: no such clinic.
        RuleViolationError: a bad ``limit`` or ``cursor``.
    """
    key = clinic_id_of(get_clinic(session, clinic))
    rows = session.exec(
        select(ChargeEventRow)
        .where(
            ChargeEventRow.clinic_id == key,
            ChargeEventRow.service_date == service_date,
            ChargeEventRow.kind == EventKind.CHARGE.value,
        )
        .order_by(col(ChargeEventRow.id))
    ).all()
    billable = [
        row
        for row in rows
        if row.status == ChargeStatus.BILLABLE.value
        and row.voided_by_event_id is None
        and row.credited_by_event_id is None
    ]
    by_payer: dict[str, list[ChargeEventRow]] = defaultdict(list)
    for row in billable:
        by_payer[row.payer_profile or stored_event(row).payer_profile].append(row)
    totals = []
    for payer, group in sorted(by_payer.items()):
        events = [stored_event(row) for row in group]
        known = [e.expected_allowable_usd for e in events if e.expected_allowable_usd is not None]
        totals.append(
            BatchTotal(
                payer_profile=payer,
                lines=len(events),
                units=sum(e.units for e in events),
                expected_allowable_usd=round(sum(known), 2),
                unpriced_lines=len(events) - len(known),
            )
        )
    page = list_charge_page(
        session,
        ChargeQuery(clinic=clinic, service_from=service_date, service_to=service_date, limit=limit, cursor=cursor),
    )
    return ChargeBatch(
        clinic=clinic,
        service_date=service_date,
        visits=len({row.visit_key for row in rows}),
        lines=len(rows),
        billable_lines=len(billable),
        units=sum(t.units for t in totals),
        totals=totals,
        items=page.items,
        next_cursor=page.next_cursor,
    )
