"""The pump models the service knows. Figures marked [U] await the manufacturer's IFU."""

from typing import Final

from schemas.flow_law import PropellantFlowLaw
from schemas.pump import DeliveryRoute, PumpFamily, PumpModel

__all__ = ["PUMP_MODELS", "UnknownPumpModelError", "get_pump_model"]

# Propellant placeholders: 400 mmHg gauge at 37 degC, dH_vap 27.5 kJ/mol (CFC-type, [U]).
# Against 90 mmHg arterial back-pressure that gives about +12.9 %/degC and +8.7 %/1,000 ft,
# inside the range the physics table in docs/domain.md derives for HAI pumps.
_ARTERIAL_PROPELLANT: Final = PropellantFlowLaw(
    propellant_gauge_mmhg=400.0, vaporization_enthalpy_j_per_mol=27_500.0, reference_back_pressure_mmhg=90.0
)

# Battery pumps last 5-7 years [V]; the middle is the default until each model's IFU gives its own [U].
# Field accuracy is about +1 % mean, 2.5 % per refill [V]; the per-unit spread of +-3 % is [U].
_BATTERY_LIFE_DAYS: Final = 6 * 365.25

PUMP_MODELS: Final[dict[str, PumpModel]] = {
    m.model_id: m
    for m in (
        PumpModel(
            model_id="hai-30",
            name="Constant-flow HAI pump, 30 mL",
            family=PumpFamily.CONSTANT_FLOW,
            capacity_ml=30.0,
            nominal_rate_ml_per_day=1.0,
            min_rate_ml_per_day=0.5,
            max_rate_ml_per_day=3.0,
            rate_tolerance_pct=10.0,
            low_reservoir_ml=2.0,
            near_empty_ml=1.0,
            protocol_interval_days=14.0,
            max_interval_days=28.0,
            unit_flow_spread_pct=10.0,
            flow_law=_ARTERIAL_PROPELLANT,
            routes=(DeliveryRoute.INTRA_ARTERIAL,),
            source="30 mL / ~1 mL/day [V] Codman 3000, SIR 2023; 14-day cycle [V]; +-10 % [V] Infusaid; "
            "residual floor, taper and rate range [U]",
        ),
        PumpModel(
            model_id="cf-50",
            name="Constant-flow pump, 50 mL",
            family=PumpFamily.CONSTANT_FLOW,
            capacity_ml=50.0,
            nominal_rate_ml_per_day=3.0,
            min_rate_ml_per_day=3.0,
            max_rate_ml_per_day=6.0,
            rate_tolerance_pct=10.0,
            low_reservoir_ml=2.0,
            near_empty_ml=1.0,
            protocol_interval_days=14.0,
            max_interval_days=16.0,
            unit_flow_spread_pct=10.0,
            flow_law=_ARTERIAL_PROPELLANT,
            routes=(DeliveryRoute.INTRA_ARTERIAL, DeliveryRoute.INTRAVENOUS),
            source="50 mL, 3-6 mL/day, refill 8-16 days, +-10 % [V] Infusaid 400 (Cancer Treat Rep 1981)",
        ),
        PumpModel(
            model_id="programmable-20",
            name="Programmable pump, 20 mL",
            family=PumpFamily.PROGRAMMABLE,
            capacity_ml=20.0,
            min_rate_ml_per_day=0.048,
            max_rate_ml_per_day=24.0,
            rate_tolerance_pct=14.5,
            low_reservoir_ml=2.0,
            pocket_fill_threshold_ml=1.0,
            max_interval_days=180.0,
            unit_flow_spread_pct=3.0,
            battery_life_days=_BATTERY_LIFE_DAYS,
            eri_to_eos_days=90.0,
            routes=(
                DeliveryRoute.INTRATHECAL,
                DeliveryRoute.EPIDURAL,
                DeliveryRoute.INTRAVENOUS,
                DeliveryRoute.INTRA_ARTERIAL,
            ),
            source="alarm 2 mL [V] Neurosurgery 2004; 14.5 % [V] ANZCA; pocket fill >1 mL [V] Maino 2017; "
            "0.048-24 mL/day per HPP/1 limits; 180-day interval [V] Medtronic; EOS 90 days after ERI [V]",
        ),
        PumpModel(
            model_id="programmable-40",
            name="Programmable pump, 40 mL",
            family=PumpFamily.PROGRAMMABLE,
            capacity_ml=40.0,
            min_rate_ml_per_day=0.048,
            max_rate_ml_per_day=24.0,
            rate_tolerance_pct=14.5,
            low_reservoir_ml=2.0,
            pocket_fill_threshold_ml=2.0,
            max_interval_days=180.0,
            unit_flow_spread_pct=3.0,
            battery_life_days=_BATTERY_LIFE_DAYS,
            eri_to_eos_days=90.0,
            routes=(
                DeliveryRoute.INTRATHECAL,
                DeliveryRoute.EPIDURAL,
                DeliveryRoute.INTRAVENOUS,
                DeliveryRoute.INTRA_ARTERIAL,
            ),
            source="as programmable-20; pocket fill >2 mL [V] Maino 2017",
        ),
    )
}


class UnknownPumpModelError(LookupError, ValueError):
    """A pump model id that is not in the catalogue."""


def get_pump_model(model_id: str) -> PumpModel:
    """Look a model up by id.

    Raises:
        UnknownPumpModelError: the id is not in :data:`PUMP_MODELS` (the message lists the known ids).
    """
    try:
        return PUMP_MODELS[model_id]
    except KeyError:
        known = ", ".join(sorted(PUMP_MODELS))
        raise UnknownPumpModelError(f"unknown pump model {model_id!r} (known: {known})") from None
