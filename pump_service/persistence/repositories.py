"""Queries the services use; every function takes the caller's session and never commits."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from pump_service.persistence.models import (
    ConditionPeriodRow,
    Patient,
    PrescriptionRow,
    Pump,
    PumpState,
    Refill,
    RefillComponent,
)

__all__ = [
    "components_of",
    "condition_periods",
    "current_prescription",
    "find_patient",
    "find_pump",
    "list_pumps",
    "patient_refs",
    "pumps_due_before",
    "refill_by_key",
    "refills_of",
]


def find_pump(session: Session, serial: str, *, for_update: bool = False) -> Pump | None:
    """The pump with ``serial``; ``for_update`` locks its row (PostgreSQL) for a read-modify-write."""
    query = select(Pump).where(Pump.serial == serial)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def list_pumps(session: Session) -> Sequence[Pump]:
    return session.exec(select(Pump).order_by(col(Pump.serial))).all()


def find_patient(session: Session, patient_ref: str) -> Patient | None:
    return session.exec(select(Patient).where(Patient.patient_ref == patient_ref)).first()


def patient_refs(session: Session, patient_ids: set[int]) -> dict[int, str]:
    if not patient_ids:
        return {}
    rows = session.exec(select(Patient).where(col(Patient.id).in_(patient_ids))).all()
    return {p.id: p.patient_ref for p in rows if p.id is not None}


def condition_periods(session: Session, pump_id: int) -> Sequence[ConditionPeriodRow]:
    query = select(ConditionPeriodRow).where(ConditionPeriodRow.pump_id == pump_id)
    return session.exec(query.order_by(col(ConditionPeriodRow.start_at))).all()


def current_prescription(session: Session, pump_id: int) -> PrescriptionRow | None:
    query = select(PrescriptionRow).where(
        PrescriptionRow.pump_id == pump_id, col(PrescriptionRow.superseded_at).is_(None)
    )
    return session.exec(query.order_by(col(PrescriptionRow.effective_at).desc())).first()


def refill_by_key(session: Session, idempotency_key: str) -> Refill | None:
    return session.exec(select(Refill).where(Refill.idempotency_key == idempotency_key)).first()


def refills_of(session: Session, pump_id: int) -> Sequence[Refill]:
    query = select(Refill).where(Refill.pump_id == pump_id)
    return session.exec(query.order_by(col(Refill.performed_at).desc())).all()


def components_of(session: Session, refill_id: int) -> Sequence[RefillComponent]:
    query = select(RefillComponent).where(RefillComponent.refill_id == refill_id)
    return session.exec(query.order_by(col(RefillComponent.id))).all()


def pumps_due_before(session: Session, until: datetime) -> Sequence[Pump]:
    """Implanted pumps due by ``until``; an explanted pump is never due, whatever its last due date."""
    query = select(Pump).where(
        col(Pump.next_due_at).is_not(None), col(Pump.next_due_at) <= until, col(Pump.state) != PumpState.EXPLANTED
    )
    return session.exec(query.order_by(col(Pump.next_due_at))).all()
