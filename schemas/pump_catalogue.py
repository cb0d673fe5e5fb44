"""The pump models the service knows, each figure with its source or "placeholder".

A "placeholder" figure awaits the manufacturer's IFU (the domain notes name the manuals that
hold them); docs/domain.md lists every figure and its source.
"""

from typing import Final

from schemas.flow_law import PropellantFlowLaw
from schemas.pump import DeliveryRoute, PumpFamily, PumpModel
from schemas.sourcing import PLACEHOLDER

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

_INFUSAID_400: Final = (
    "Infusaid Model 400: 50 mL, 3-6 mL/day, refill every 8-16 days, flow stable within +-10 % [S] "
    "Cancer Treat Rep 1981;65:393, https://scilit.net/publications/4392da7fbbc15585a1e51dfa7ed27856"
)
_HAI_CYCLE: Final = (
    "HAI: 14 days of FUDR alternating with 14 days of saline/heparin [S] Cancer 1986;57:465, "
    "http://kanker-actueel.nl/pubmed/2935242"
)
_CONSTANT_FLOW_SOURCES: Final = {
    "rate_tolerance_pct": "+-10 % clinical flow stability of the " + _INFUSAID_400,
    "low_reservoir_ml": PLACEHOLDER,
    "near_empty_ml": PLACEHOLDER,
    "protocol_interval_days": _HAI_CYCLE,
    "unit_flow_spread_pct": PLACEHOLDER,
    "flow_law": PLACEHOLDER,
}
_SYNCHROMED_MODELS: Final = (
    "SynchroMed II 8637-20 / 8637-40 = 20 / 40 mL [S] Information for Prescribers, "
    "https://pdfslide.us/documents/synchromed-isomed-isomed-implantable-infusion-systems-information-for-prescribers.html"
)
_MAINO_2017: Final = (
    "post-refill discrepancy > 1 mL (20 mL pump) / > 2 mL (40 mL pump) signals a pocket fill [S] "
    "Maino, Perez, Koetsier, Neuromodulation 2017;20:733"
)
_PROGRAMMABLE_SOURCES: Final = {
    "min_rate_ml_per_day": PLACEHOLDER,
    "max_rate_ml_per_day": PLACEHOLDER,
    "rate_tolerance_pct": "delivery more than 14.5 % above the programmed rate is over-infusion [S] ANZCA hazard "
    "alert, SynchroMed II",
    "low_reservoir_ml": "manufacturer recommends a 2 mL low-reservoir alarm [S] Neurosurgery 2004",
    "near_empty_ml": "[D] 0, not applicable: the peristaltic motor sets the flow, there is no bellows taper",
    "max_interval_days": "refill interval 6 weeks to 6 months [S] Medtronic, https://www.medtronic.com/me-en/"
    "your-health/treatments-therapies/drug-pump-chronic-pain/living-with-therapy/optimizing-therapy.html",
    "unit_flow_spread_pct": PLACEHOLDER,
    "battery_life_days": "[D] 6 years, the middle of the typical 5-7 years (maximum 7) of SynchroMed II [S] "
    "Medtronic UK, https://www.medtronic.com/uk-en/patients/treatments-therapies/drug-pump-chronic-pain/"
    "living-with/drug-pumps-replacement.html",
    "eri_to_eos_days": "the pump stops 90 days after ERI [S] Medtronic UK (as battery_life_days)",
}

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
            "residual floor, taper, rate range, spread and propellant placeholders",
            figure_sources={
                **_CONSTANT_FLOW_SOURCES,
                "capacity_ml": 'Codman 3000 holds "approximately one ounce" (~30 mL) [S] J&J MedTech patient '
                "support, https://www.jnjmedtech.com/en-US/codman-pumps/patient-support",
                "nominal_rate_ml_per_day": 'HAI pumps deliver "approximately 1 cc" a day [S] SIR 2023 abstract, '
                "https://eventscribe.net/2023/SIR23/fsPopup.asp?Mode=presInfo&PresentationID=1176352",
                "min_rate_ml_per_day": PLACEHOLDER,
                "max_rate_ml_per_day": PLACEHOLDER,
                "max_interval_days": 'HAI pumps refilled "every 2 to 4 weeks" [S] Healthwise HAI sheet; Penn Medicine',
            },
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
            source="50 mL, 3-6 mL/day, refill 8-16 days, +-10 % [V] Infusaid 400 (Cancer Treat Rep 1981); "
            "residual floor, taper, spread and propellant placeholders",
            figure_sources={
                **_CONSTANT_FLOW_SOURCES,
                "capacity_ml": _INFUSAID_400,
                "nominal_rate_ml_per_day": "[D] the lowest of the 3-6 mL/day rates of the " + _INFUSAID_400,
                "min_rate_ml_per_day": _INFUSAID_400,
                "max_rate_ml_per_day": _INFUSAID_400,
                "max_interval_days": "the longest refill interval (16 days) of the " + _INFUSAID_400,
            },
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
            "0.048-24 mL/day per HPP/1 limits (labelled range placeholder); 180-day interval [V] Medtronic; "
            "EOS 90 days after ERI [V]",
            figure_sources={
                **_PROGRAMMABLE_SOURCES,
                "capacity_ml": _SYNCHROMED_MODELS,
                "pocket_fill_threshold_ml": _MAINO_2017,
            },
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
            figure_sources={
                **_PROGRAMMABLE_SOURCES,
                "capacity_ml": _SYNCHROMED_MODELS,
                "pocket_fill_threshold_ml": _MAINO_2017,
            },
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
