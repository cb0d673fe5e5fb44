"""What a refill plan is made from, and what it makes of each drug: plain values, no rules.

:class:`PumpSnapshot` is what is stored about the pump, :class:`FillRequest` what the nurse
entered, :class:`RegisterReading` what a programmable pump's register said before the refill,
:class:`PlanPolicy` the clinic's thresholds; :class:`PlannedComponent` is one planned drug.
"""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pump_service.domain.findings import Override
from pump_service.domain.residual import ConditionPeriod
from schemas.drug import DoseBasis, Drug
from schemas.pump import DeliveryRoute, PumpModel

__all__ = ["ComponentRequest", "FillRequest", "PlanPolicy", "PlannedComponent", "PumpSnapshot", "RegisterReading"]


@dataclass(frozen=True, slots=True)
class PumpSnapshot:
    """What is stored about the pump when the refill starts (nothing here is the request's)."""

    serial: str
    model: PumpModel
    route: DeliveryRoute
    version: int
    nominal_rate_ml_per_day: float | None = None
    implanted_at: datetime | None = None
    last_fill_at: datetime | None = None
    last_fill_volume_ml: float | None = None
    flow_ratio: float | None = None  # measured/expected of the last judged return, if in band
    basal_ml_per_day: float | None = None  # programmable: the prescription in force
    bolus_allowance_ml_per_day: float = 0.0  # programmable: the registered patient bolus allowance
    periods: tuple[ConditionPeriod, ...] = ()
    patient_body_mass_kg: float | None = None
    drugs_in_pump: frozenset[str] = frozenset()  # drug ids of the fill now in the pump


@dataclass(frozen=True, slots=True)
class ComponentRequest:
    """One drug of the fill, in canonical units; exactly one of amount, concentration or dose for a drug."""

    drug: Drug
    amount: float | None = None
    concentration: float | None = None
    dose: tuple[DoseBasis, float] | None = None
    stock_concentration: float | None = None
    expires_on: date | None = None
    lot: str | None = None


@dataclass(frozen=True, slots=True)
class FillRequest:
    performed_at: datetime
    returned_volume_ml: float
    fill_volume_ml: float
    components: tuple[ComponentRequest, ...]
    syringe_resolution_ml: float | None = None
    body_mass_kg: float | None = None
    override: Override | None = None
    new_basal_ml_per_day: float | None = None  # programmable: a prescription written with the refill
    new_bolus_allowance_ml_per_day: float | None = None


@dataclass(frozen=True, slots=True)
class RegisterReading:
    """The programmable pump's own reservoir register, read before anything was written."""

    reservoir_ml: float
    read_at: datetime


@dataclass(frozen=True, slots=True)
class PlanPolicy:
    zone: ZoneInfo
    warn_deviation_pct: float = 10.0
    alert_deviation_pct: float = 20.0
    safety_margin_days: float = 3.0


@dataclass(frozen=True, slots=True)
class PlannedComponent:
    index: int  # position in the request
    drug: Drug
    volume_ml: float
    amount: float | None  # mg or USP_U in the fill
    concentration: float | None  # mg/mL or USP_U/mL in the fill
    daily_amount: float | None  # delivered per day at the dosing rate (the prescribed dose)
    max_daily_amount: float | None  # per day at the planning rate (every allowed bolus taken)
