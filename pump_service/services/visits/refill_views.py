"""A stored refill as people and clients see it: the same figures recorded, replayed or looked up."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from pump_service.billing import EventKind
from pump_service.domain.return_check import CAUSE_TEXT, LikelyCause
from pump_service.errors import NotFoundError
from pump_service.persistence import repositories as repo
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.models import Pump, Refill, RefillComponent
from pump_service.persistence.schedule_models import Appointment
from pump_service.services.charges.views import shown_status, stored_event
from pump_service.services.contracts import (
    AppointmentBrief,
    ChargeLine,
    ComponentResult,
    CosignatureBrief,
    DueConstraintResult,
    FindingResult,
    OverrideResult,
    RefillResult,
)
from pump_service.services.paging import Page, PageRequest, rows_page, select_page
from pump_service.services.pumps.registry import get_pump
from schemas.drug import AmountBasis, Drug
from schemas.drug_catalogue import get_drug
from schemas.units import format_quantity

__all__ = ["daily_dose_text", "refill_page", "refill_result", "visit_charge_lines"]


def daily_dose_text(drug: Drug, daily_amount: float | None) -> str | None:
    if daily_amount is None:
        return None
    if drug.amount_basis is AmountBasis.ACTIVITY:
        return format_quantity(daily_amount, "activity_rate", digits=1)
    unit = "ug/d" if daily_amount < 0.1 else "mg/d"
    return format_quantity(daily_amount, "mass_rate", unit, digits=3)


def _component_results(rows: Sequence[RefillComponent], dosing: float, planning: float) -> tuple[ComponentResult, ...]:
    results = []
    for row in rows:
        drug = get_drug(row.drug_id)
        conc = row.conc_mg_per_ml if row.conc_mg_per_ml is not None else row.conc_usp_u_per_ml
        results.append(
            ComponentResult(
                drug_id=row.drug_id,
                drug_name=drug.name,
                volume_ml=row.volume_ml,
                amount_mg=row.amount_mg,
                amount_usp_u=row.amount_usp_u,
                conc_mg_per_ml=row.conc_mg_per_ml,
                conc_usp_u_per_ml=row.conc_usp_u_per_ml,
                daily_dose=daily_dose_text(drug, conc * dosing if conc is not None else None),
                max_daily_dose=daily_dose_text(drug, conc * planning if conc is not None else None),
                ndc=row.ndc,
                lot=row.lot,
                expires_on=row.expires_on,
            )
        )
    return tuple(results)


def _appointment(session: Session, appointment_id: int | None) -> AppointmentBrief | None:
    row = session.get(Appointment, appointment_id) if appointment_id is not None else None
    if row is None or row.id is None:
        return None
    return AppointmentBrief(appointment_id=row.id, starts_at=row.starts_at, ends_at=row.ends_at, on_time=row.on_time)


def visit_charge_lines(session: Session, visit_key: str) -> tuple[ChargeLine, ...]:
    rows = session.exec(
        select(ChargeEventRow)
        .where(ChargeEventRow.visit_key == visit_key, ChargeEventRow.kind == EventKind.CHARGE.value)
        .order_by(col(ChargeEventRow.id))
    ).all()
    lines = []
    for row in rows:
        event = stored_event(row)
        lines.append(
            ChargeLine(
                event_id=event.event_id,
                code=event.code,
                modifiers=event.modifiers,
                units=event.units,
                status=shown_status(row, event).value,  # voided / credited once corrected
            )
        )
    return tuple(lines)


def refill_result(session: Session, refill: Refill, *, replayed: bool = False) -> RefillResult:
    """The result view of a stored refill: the same figures whether just recorded, replayed or looked up.

    Raises:
        NotFoundError: the refill or its pump is not stored.
    """
    pump = session.get(Pump, refill.pump_id)
    if pump is None or refill.id is None:
        raise NotFoundError(f"refill {refill.id} is not stored")
    rows = repo.components_of(session, refill.id)
    dosing = refill.dosing_rate_ml_per_day or refill.planning_rate_ml_per_day
    return RefillResult(
        refill_id=refill.id,
        pump_serial=pump.serial,
        performed_at=refill.performed_at,
        replayed=replayed,
        simulated=refill.simulated,
        previous_fill_at=refill.previous_fill_at,
        previous_fill_volume_ml=refill.previous_fill_volume_ml,
        returned_volume_ml=refill.returned_volume_ml,
        fill_volume_ml=refill.fill_volume_ml,
        elapsed_days=refill.elapsed_days,
        expected_residual_ml=refill.expected_residual_ml,
        expected_rate_ml_per_day=refill.expected_rate_ml_per_day,
        measured_rate_ml_per_day=refill.measured_rate_ml_per_day,
        deviation_pct=refill.deviation_pct,
        volume_delta_ml=refill.volume_delta_ml,
        flow_class=refill.flow_class,
        likely_causes=tuple(CAUSE_TEXT[LikelyCause(c)] for c in refill.likely_causes),
        findings=tuple(FindingResult.model_validate(f) for f in refill.findings),
        warnings=tuple(refill.warnings),
        override=OverrideResult.model_validate(refill.override) if refill.override else None,
        cosignatures=tuple(CosignatureBrief.model_validate(c) for c in refill.cosignatures or ()),
        components=_component_results(rows, dosing, refill.planning_rate_ml_per_day),
        planning_rate_ml_per_day=refill.planning_rate_ml_per_day,
        planning_rate_source=refill.planning_rate_source,
        dosing_rate_ml_per_day=dosing,
        alarm_at=refill.alarm_at,
        empty_at=refill.empty_at,
        next_due_at=refill.next_due_at,
        next_due_reason=refill.next_due_reason,
        due_constraints=tuple(DueConstraintResult.model_validate(c) for c in refill.due_constraints),
        appointment=_appointment(session, refill.booked_appointment_id),
        charges=visit_charge_lines(session, refill.idempotency_key),
    )


def refill_page(session: Session, serial: str, request: PageRequest) -> Page[RefillResult]:
    """A page of the pump's refills, newest first (explanted pumps included: their history stays readable).

    Raises:
        NotFoundError: no such pump.
        RuleViolationError: a cursor of another list.
    """
    pump = get_pump(session, serial, include_explanted=True)
    columns = (col(Refill.performed_at), col(Refill.id))
    statement = select_page(
        select(Refill).where(Refill.pump_id == pump.id),
        columns,
        (datetime, int),
        request=request,
        list_name=f"refills:{serial}",
        descending=True,
    )
    rows, cursor = rows_page(
        session.exec(statement).all(),
        key=lambda r: (r.performed_at, r.id or 0),
        request=request,
        list_name=f"refills:{serial}",
    )
    return Page(items=[refill_result(session, r) for r in rows], next_cursor=cursor)
