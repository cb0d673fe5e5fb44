"""Starting a refill visit: what the nurse should see before aspirating.

For a programmable pump the station interrogates it first (status and the new part of its log are
stored); for any pump it shows the residual the service expects now, so the aspirated volume can
be judged on the spot, plus the booked appointment and anything that needs attention.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from pump_service.errors import NotFoundError
from pump_service.persistence import repositories as repo
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor
from pump_service.services.contracts import PumpView
from pump_service.services.pumps.registry import get_pump, pump_view
from pump_service.services.pumps.state import condition_periods_of, expected_residual_at
from pump_service.services.scheduling.booking import active_appointment
from pump_service.services.scheduling.views import AppointmentView, appointment_view
from pump_service.services.visits.interrogation import interrogate
from pump_service.settings import Settings
from schemas.clock import Clock, UtcDatetime
from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model

__all__ = ["VisitPreview", "start_visit"]


class VisitPreview(BaseModel):
    model_config = ConfigDict(frozen=True)

    pump: PumpView
    at: UtcDatetime
    days_since_fill: float | None
    expected_residual_ml: float | None
    interrogated: bool
    new_log_entries: int
    appointment: AppointmentView | None
    attention: tuple[str, ...]


def start_visit(
    engine: Engine,
    serial: str,
    *,
    settings: Settings,
    clock: Clock,
    actor: Actor,
    device_url: str | None = None,
    interrogate_pump: bool = True,
) -> VisitPreview:
    """Interrogate (programmable pumps) and show the expected residual and what needs attention.

    Raises:
        NotFoundError: no such pump.
        DeviceError: the programmer failed (the preview is not shown half-read).
    """
    with transaction(engine) as session:
        family = PumpFamily(get_pump(session, serial).family)
    interrogated, new_entries = False, 0
    device_warnings: tuple[str, ...] = ()
    if family is PumpFamily.PROGRAMMABLE and interrogate_pump:
        result = interrogate(
            engine, device_url or settings.device_url, settings=settings, clock=clock, actor=actor, pump_serial=serial
        )
        interrogated, new_entries, device_warnings = True, result.new_log_entries, result.warnings
    now = clock.now()
    with transaction(engine) as session:
        pump = get_pump(session, serial)
        if pump.id is None:
            raise NotFoundError(f"pump {pump.serial} is not stored")
        model = get_pump_model(pump.model_id)
        expected = expected_residual_at(pump, model, condition_periods_of(session, pump.id), now)
        if family is PumpFamily.PROGRAMMABLE and interrogated:
            expected = pump.reservoir_ml  # the pump's own register, read a moment ago
        refs = repo.patient_refs(session, {pump.patient_id} if pump.patient_id else set())
        view = pump_view(pump, patient_ref=refs.get(pump.patient_id or -1), now=now)
        booked = active_appointment(session, pump.id)
        appointment = appointment_view(session, booked) if booked is not None else None
    return VisitPreview(
        pump=view,
        at=now,
        days_since_fill=(now - view.last_fill_at).total_seconds() / 86_400 if view.last_fill_at else None,
        expected_residual_ml=expected,
        interrogated=interrogated,
        new_log_entries=new_entries,
        appointment=appointment,
        attention=(*device_warnings, *_attention(view, now)),
    )


def _attention(view: PumpView, now: datetime) -> tuple[str, ...]:
    notes = [f"alarm {a.get('code')} since {a.get('since')}" for a in view.alarms]
    if view.battery_state in {"ERI", "EOS"}:
        notes.append(f"battery {view.battery_state}: plan the pump replacement")
    if view.next_due_at is not None and view.next_due_at < now:
        notes.append(f"overdue since {view.next_due_at.isoformat()}")
    if view.clock_drift_s is not None and abs(view.clock_drift_s) > 300:
        notes.append(f"pump clock is {view.clock_drift_s:+.0f} s off: set it")
    return tuple(notes)
