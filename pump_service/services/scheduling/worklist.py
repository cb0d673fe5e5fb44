"""The front desk's worklist per clinic: visits that passed without a refill, and no-shows not yet seen."""

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from pump_service.persistence.models import Pump
from pump_service.persistence.rows import clinic_id_of, stored_id
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic
from pump_service.services.scheduling.contracts import WorklistItem, WorklistKind

__all__ = ["worklist"]


def worklist(
    session: Session, clinic: Clinic, *, now: datetime, grace: timedelta, days: int = 30
) -> list[WorklistItem]:
    """What the front desk must chase, oldest first.

    Overdue bookings (their end plus ``grace`` passed, still booked) and no-shows of the last
    ``days`` days whose pump has not been refilled since.
    """
    clinic_id = clinic_id_of(clinic)
    rows = session.exec(
        select(Appointment)
        .where(
            Appointment.clinic_id == clinic_id,
            col(Appointment.starts_at) >= now - timedelta(days=days),
            col(Appointment.starts_at) <= now,
            col(Appointment.status).in_((AppointmentStatus.BOOKED, AppointmentStatus.NO_SHOW)),
        )
        .order_by(col(Appointment.starts_at))
    ).all()
    items: list[WorklistItem] = []
    for row in rows:
        pump = session.get(Pump, row.pump_id)
        if pump is None:
            continue
        if row.status == AppointmentStatus.BOOKED:
            if row.ends_at + grace > now:
                continue
            kind = WorklistKind.OVERDUE
        else:
            refilled = session.exec(
                select(Appointment.id).where(
                    Appointment.pump_id == row.pump_id,
                    Appointment.status == AppointmentStatus.COMPLETED,
                    col(Appointment.starts_at) > row.starts_at,
                )
            ).first()
            if refilled is not None or (pump.last_fill_at is not None and pump.last_fill_at > row.starts_at):
                continue
            kind = WorklistKind.NO_SHOW
        next_booked = session.exec(
            select(Appointment)
            .where(
                Appointment.pump_id == row.pump_id,
                Appointment.status == AppointmentStatus.BOOKED,
                col(Appointment.starts_at) > row.starts_at,
            )
            .order_by(col(Appointment.starts_at))
        ).first()
        items.append(
            WorklistItem(
                kind=kind,
                appointment_id=stored_id(row, "appointment"),
                pump_serial=pump.serial,
                local_day=row.local_day,
                starts_at=row.starts_at,
                due_at=row.target_at,
                rebooked_at=next_booked.starts_at if next_booked else None,
            )
        )
    return items
