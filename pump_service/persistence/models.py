"""SQLModel tables. Quantities are floats in the canonical unit their column names; times are UTC.

Every row that records a state change carries who made it and from which station
(``created_by``, ``station_id``). Patients hold only the clinic's pseudonymous reference and the
body mass that dosing needs: no names, no birth dates.

``table=True`` models do not validate; input is validated by the request models in
``pump_service/services/contracts.py`` before a row is built.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from pump_service.persistence.types import StrEnumType, UTCDateTime
from schemas.pump import PumpFamily

__all__ = [
    "ConditionPeriodRow",
    "DeviceLogRecord",
    "Patient",
    "PrescriptionRow",
    "Pump",
    "PumpState",
    "Refill",
    "RefillComponent",
]


class PumpState(StrEnum):
    """Whether a pump is still implanted: an explanted pump keeps its history but takes no more visits."""

    ACTIVE = "active"
    EXPLANTED = "explanted"


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _json_dict() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Patient(SQLModel, table=True):
    __tablename__ = "patient"

    id: int | None = Field(default=None, primary_key=True)
    patient_ref: str = Field(index=True, unique=True, max_length=64)
    body_mass_kg: float | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)


class Pump(SQLModel, table=True):
    """A pump as a device: identity, model, and its last known state."""

    __tablename__ = "pump"

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(index=True, unique=True, max_length=64)
    model_id: str = Field(max_length=32)
    family: PumpFamily = Field(sa_type=StrEnumType(PumpFamily))
    route: str = Field(max_length=16)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    nominal_rate_ml_per_day: float | None = None
    implanted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_fill_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_fill_volume_ml: float | None = None
    reservoir_ml: float | None = None
    reservoir_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    measured_rate_ml_per_day: float | None = None
    flow_ratio: float | None = None  # measured / expected flow of the last judged return, inside the band
    planning_rate_ml_per_day: float | None = None
    battery_state: str | None = Field(default=None, max_length=8, index=True)  # the tick reads ERI/EOS pumps
    months_to_eri: int | None = None
    clock_drift_s: float | None = None
    alarms: list[dict[str, Any]] = _json_list()
    next_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    next_due_reason: str | None = Field(default=None, max_length=32)
    alarm_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # forecast low alarm / residual floor
    empty_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # forecast empty reservoir
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id", index=True)
    # Lifecycle: an explanted pump is kept (its history is the patient's), linked to its successor.
    state: PumpState = Field(default=PumpState.ACTIVE, sa_type=StrEnumType(PumpState), index=True)
    explanted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    explant_reason: str | None = Field(default=None, max_length=200)
    replaces_id: int | None = Field(default=None, foreign_key="pump.id")
    replaced_by_id: int | None = Field(default=None, foreign_key="pump.id")
    # The pump log's epoch: a new one starts when the pump's log restarts (a reset, a new board).
    log_epoch: int = Field(default=0)
    version: int = Field(default=1)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(max_length=64)


class PrescriptionRow(SQLModel, table=True):
    """A programmable pump's prescription; the current one has no ``superseded_at``."""

    __tablename__ = "prescription"

    id: int | None = Field(default=None, primary_key=True)
    pump_id: int = Field(foreign_key="pump.id", index=True)
    mode: str = Field(max_length=16)
    rate_ml_per_day: float | None = None
    steps: list[dict[str, Any]] = _json_list()
    bolus_volume_ml: float | None = None
    bolus_max_per_day: int | None = None
    daily_volume_ml: float
    rx_id: str | None = Field(default=None, max_length=64)
    effective_at: datetime = Field(sa_type=UTCDateTime)
    superseded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)


class ConditionPeriodRow(SQLModel, table=True):
    """Conditions a constant-flow pump was under from ``start_at`` (a fever, a flight, glycerin)."""

    __tablename__ = "condition_period"
    __table_args__ = (UniqueConstraint("pump_id", "start_at"),)

    id: int | None = Field(default=None, primary_key=True)
    pump_id: int = Field(foreign_key="pump.id", index=True)
    start_at: datetime = Field(sa_type=UTCDateTime)
    body_temperature_c: float
    ambient_pressure_mmhg: float
    relative_viscosity: float
    note: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)


class Refill(SQLModel, table=True):
    """One refill visit's figures. ``idempotency_key`` makes a retried request record nothing twice."""

    __tablename__ = "refill"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(index=True, unique=True, max_length=80)
    request_digest: str = Field(max_length=64)
    pump_id: int = Field(foreign_key="pump.id", index=True)
    performed_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # Recorded through the simulated programmer (a test bench): the "pump" it verified is not a pump.
    simulated: bool = Field(default=False)
    previous_fill_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    previous_fill_volume_ml: float | None = None
    returned_volume_ml: float
    syringe_resolution_ml: float | None = None
    fill_volume_ml: float
    body_mass_kg: float | None = None
    elapsed_days: float | None = None
    expected_residual_ml: float | None = None
    expected_rate_ml_per_day: float | None = None
    measured_rate_ml_per_day: float | None = None
    deviation_pct: float | None = None
    volume_delta_ml: float | None = None
    flow_class: str | None = Field(default=None, max_length=8)
    likely_causes: list[str] = _json_list()
    warnings: list[str] = _json_list()
    findings: list[dict[str, Any]] = _json_list()
    override: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The co-signatures the refill used (who signed, role, when, what): see cosignature_models.
    cosignatures: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    register_ml: float | None = None  # a programmable pump's own register before the refill
    nothing_aspirated: bool = False
    planning_rate_ml_per_day: float
    planning_rate_source: str = Field(default="model", max_length=16)
    dosing_rate_ml_per_day: float | None = None
    alarm_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    empty_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_due_at: datetime = Field(sa_type=UTCDateTime)
    next_due_reason: str = Field(max_length=32)
    due_constraints: list[dict[str, Any]] = _json_list()
    booked_appointment_id: int | None = None  # the appointment booked for the next refill (no FK: they refer both ways)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)


class RefillComponent(SQLModel, table=True):
    """A drug or vehicle in a fill, with the traceability a recall needs (NDC, lot, expiry)."""

    __tablename__ = "refill_component"

    id: int | None = Field(default=None, primary_key=True)
    refill_id: int = Field(foreign_key="refill.id", index=True)
    drug_id: str = Field(max_length=40)
    volume_ml: float
    amount_mg: float | None = None
    amount_usp_u: float | None = None
    conc_mg_per_ml: float | None = None
    conc_usp_u_per_ml: float | None = None
    ndc: str | None = Field(default=None, max_length=20)
    lot: str | None = Field(default=None, max_length=40)
    expires_on: date | None = None


class DeviceLogRecord(SQLModel, table=True):
    """A pump's event history: entries read from its own log (with ``log_index``) and the service's.

    ``(pump_id, log_epoch, log_index)`` is unique, so downloading a pump log twice stores each entry
    once; service-side entries have no index. A pump whose log restarts (a reset, a replacement
    board, a restarted simulator) numbers its entries from 0 again: they go into a new epoch
    (``services/visits/continuity.py``) instead of colliding with the old ones.
    """

    __tablename__ = "device_log"
    __table_args__ = (UniqueConstraint("pump_id", "log_epoch", "log_index", name="uq_device_log_pump_epoch_index"),)

    id: int | None = Field(default=None, primary_key=True)
    pump_id: int = Field(foreign_key="pump.id", index=True)
    source: str = Field(max_length=8)  # "pump" | "service"
    log_epoch: int = Field(default=0)
    log_index: int | None = None
    entry_type: str = Field(max_length=32)
    device_time_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime, index=True)
    data: dict[str, Any] = _json_dict()
    actor: str = Field(max_length=64)
    station_id: str = Field(max_length=64)


# The other table families register on the same metadata (Alembic's env imports this module).
from pump_service.persistence.account_models import ApiToken, LoginSession, StationRow, UserAccount  # noqa: E402
from pump_service.persistence.charge_models import ChargeEventRow  # noqa: E402
from pump_service.persistence.cosignature_models import Cosignature  # noqa: E402
from pump_service.persistence.notification_models import NotificationDelivery  # noqa: E402
from pump_service.persistence.schedule_models import Appointment, Clinic, ClinicHoliday, Notification  # noqa: E402
from pump_service.persistence.visit_models import Visit  # noqa: E402

__all__ += ["ApiToken", "LoginSession", "StationRow", "UserAccount"]
__all__ += [
    "Appointment",
    "ChargeEventRow",
    "Clinic",
    "ClinicHoliday",
    "Cosignature",
    "Notification",
    "NotificationDelivery",
    "Visit",
]
from pump_service.persistence.audit_models import AuditChainHead, AuditEntry  # noqa: E402

__all__ += ["AuditChainHead", "AuditEntry"]
