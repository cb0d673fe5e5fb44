"""Flow law of a propellant-driven constant-flow pump, shared by the domain and the simulators.

Model (Hagen-Poiseuille through the capillary restrictor, propellant as a two-phase fluid whose
vapour pressure follows Clausius-Clapeyron; see docs/domain.md for the derivation and sources)::

    Q = Q_nom * (1 / mu_rel) * (P_v(T) - P_amb - P_back) / (P_v(T_ref) - P_amb_ref - P_back_ref)
    P_v(T)   = P_v(T_ref) * exp(dH/R * (1/T_ref - 1/T))          absolute, kelvin inside
    P_amb(h) = 760 mmHg * (1 - 2.25577e-5 * h/m) ** 5.25588     standard atmosphere

The propellant pressure is absolute while the catheter tip sees ambient plus physiological
pressure, so altitude (lower ambient) and fever (higher vapour pressure) speed the pump up, and
diving or a viscous infusate (glycerin) slow it down. The parameters are per pump model and are
placeholders until the manufacturer's correction tables are available.

Near empty the bellows can no longer follow and the flow tapers: below ``near_empty_ml`` the
flow is taken as proportional to sqrt(V / near_empty_ml), which keeps the volume integrable in
closed form and reaches zero in finite time (twice the time the last ``near_empty_ml`` would take
at full flow).
"""

import math
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field

from schemas.units import PressureMmHg, TemperatureDegC

__all__ = [
    "REFERENCE_CONDITIONS",
    "FlowConditions",
    "PropellantFlowLaw",
    "advance_volume",
    "ambient_pressure_mmhg",
    "days_until_volume",
]

GAS_CONSTANT_J_PER_MOL_K: Final = 8.314462618
KELVIN_OFFSET: Final = 273.15
SEA_LEVEL_MMHG: Final = 760.0
FT_PER_M: Final = 3.280839895


def ambient_pressure_mmhg(altitude_m: float) -> float:
    """Standard-atmosphere ambient pressure at ``altitude_m`` metres above sea level."""
    return SEA_LEVEL_MMHG * float((1.0 - 2.25577e-5 * altitude_m) ** 5.25588)


class FlowConditions(BaseModel):
    """What the pump experiences over a stretch of time (body, surroundings, infusate)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    body_temperature_c: TemperatureDegC = Field(37.0, ge=30.0, le=45.0)
    ambient_pressure_mmhg: PressureMmHg = Field(SEA_LEVEL_MMHG, gt=100.0, le=3000.0)
    relative_viscosity: float = Field(1.0, gt=0.0, le=100.0, description="infusate viscosity / reference (saline = 1)")
    back_pressure_mmhg: PressureMmHg | None = Field(
        None, le=500.0, description="pressure at the catheter tip above ambient; None = the pump model's reference"
    )

    @classmethod
    def at_altitude(cls, altitude_m: float, **values: float) -> Self:
        """Conditions at an altitude (or cabin altitude), other fields as given."""
        return cls(ambient_pressure_mmhg=ambient_pressure_mmhg(altitude_m), **values)


REFERENCE_CONDITIONS: Final = FlowConditions()


class PropellantFlowLaw(BaseModel):
    """Per-model parameters of the propellant/restrictor physics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    propellant_gauge_mmhg: float = Field(gt=0, description="vapour pressure above reference ambient at T_ref")
    vaporization_enthalpy_j_per_mol: float = Field(gt=0)
    reference_back_pressure_mmhg: float = Field(ge=0)
    reference_temperature_c: float = 37.0
    reference_ambient_mmhg: float = SEA_LEVEL_MMHG

    def vapour_pressure_mmhg(self, temperature_c: float) -> float:
        """Absolute propellant vapour pressure at ``temperature_c``."""
        p_ref = self.propellant_gauge_mmhg + self.reference_ambient_mmhg
        t_ref = self.reference_temperature_c + KELVIN_OFFSET
        t = temperature_c + KELVIN_OFFSET
        return p_ref * math.exp(self.vaporization_enthalpy_j_per_mol / GAS_CONSTANT_J_PER_MOL_K * (1 / t_ref - 1 / t))

    def flow_factor(self, conditions: FlowConditions) -> float:
        """Effective flow / nominal flow under ``conditions`` (1.0 at the reference conditions, >= 0)."""
        back = (
            self.reference_back_pressure_mmhg
            if conditions.back_pressure_mmhg is None
            else conditions.back_pressure_mmhg
        )
        drive = self.vapour_pressure_mmhg(conditions.body_temperature_c) - conditions.ambient_pressure_mmhg - back
        reference_drive = self.propellant_gauge_mmhg - self.reference_back_pressure_mmhg
        return max(0.0, drive / reference_drive) / conditions.relative_viscosity

    def temperature_sensitivity_pct_per_c(self) -> float:
        """Flow change in % for +1 degC body temperature from the reference."""
        warmer = FlowConditions(body_temperature_c=self.reference_temperature_c + 1.0)
        return 100.0 * (self.flow_factor(warmer) - 1.0)

    def altitude_sensitivity_pct_per_1000_ft(self) -> float:
        """Flow change in % for +1,000 ft altitude from sea level."""
        return 100.0 * (self.flow_factor(FlowConditions.at_altitude(1000.0 / FT_PER_M)) - 1.0)


def advance_volume(volume_ml: float, rate_ml_per_day: float, days: float, near_empty_ml: float = 0.0) -> float:
    """Reservoir volume after ``days`` of delivery at full-reservoir rate ``rate_ml_per_day``.

    Exact for the taper described in the module docstring; never negative, never rises.

    Raises:
        ValueError: a negative volume, rate, duration or taper volume.
    """
    if volume_ml < 0 or rate_ml_per_day < 0 or days < 0 or near_empty_ml < 0:
        raise ValueError("volume, rate, days and near_empty_ml must not be negative")
    if rate_ml_per_day == 0 or days == 0 or volume_ml == 0:
        return volume_ml
    if near_empty_ml == 0:
        return max(0.0, volume_ml - rate_ml_per_day * days)
    if volume_ml > near_empty_ml:
        days_to_knee = (volume_ml - near_empty_ml) / rate_ml_per_day
        if days <= days_to_knee:
            return volume_ml - rate_ml_per_day * days
        days -= days_to_knee
        volume_ml = near_empty_ml
    # dV/dt = -r * sqrt(V/k)  =>  sqrt(V) falls linearly at r / (2 sqrt(k))
    root = math.sqrt(volume_ml) - rate_ml_per_day * days / (2.0 * math.sqrt(near_empty_ml))
    # sqrt then square can round a hair above the start; the reservoir never gains volume.
    return min(volume_ml, root * root) if root > 0 else 0.0


def days_until_volume(volume_ml: float, target_ml: float, rate_ml_per_day: float, near_empty_ml: float = 0.0) -> float:
    """Days of delivery at ``rate_ml_per_day`` until the reservoir falls to ``target_ml``.

    The inverse of :func:`advance_volume`. Returns 0 if already at or below the target and
    ``math.inf`` if the rate is zero.
    """
    if volume_ml <= target_ml:
        return 0.0
    if rate_ml_per_day <= 0:
        return math.inf
    target_ml = max(0.0, target_ml)
    if near_empty_ml == 0 or target_ml >= near_empty_ml:
        return (volume_ml - target_ml) / rate_ml_per_day
    days = 0.0
    if volume_ml > near_empty_ml:
        days = (volume_ml - near_empty_ml) / rate_ml_per_day
        volume_ml = near_empty_ml
    return days + (math.sqrt(volume_ml) - math.sqrt(target_ml)) * 2.0 * math.sqrt(near_empty_ml) / rate_ml_per_day
