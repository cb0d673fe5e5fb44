"""A scenario file: the clinic's patients, faults and missed visits named one by one (JSON).

Format (docs/testbench.md)::

    {"days": 90, "seed": 1, "rates": {"no_show": 0.0},
     "patients": [{"serial": "PP-1", "family": "programmable", "rate_ml_per_day": 0.5,
                   "unit_factor": 1.0, "body_mass_kg": 70, "last_fill_days_before_start": 10,
                   "faults": [{"kind": "pocket_fill", "day": 20, "fraction": 0.3}],
                   "no_show_visits": [2], "late_visits": []}]}

Fault ``kind`` is occlusion (remaining_flow, end_day), leak (rate_ml_per_day), pocket_fill
(fraction) or precipitate (daily_flow_loss); ``day`` counts from the run's start. A patient with
neither list draws attendance from the rates.
"""

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from schemas.pump import PumpFamily
from simulators.pump_faults import Leak, Occlusion, PocketFill, PumpFault, RestrictorPrecipitate
from testbench.clinic_config import ClinicConfig, ClinicRates
from testbench.clinic_population import CONSTANT_FLOW_MODEL, PROGRAMMABLE_MODEL, PatientPlan

__all__ = ["load_scenario"]


def _fault(config: ClinicConfig, raw: dict[str, Any]) -> PumpFault:
    at = config.start_at + timedelta(days=float(raw["day"]))
    kind = raw["kind"]
    if kind == "occlusion":
        end = raw.get("end_day")
        end_at = None if end is None else config.start_at + timedelta(days=float(end))
        return Occlusion(at, remaining_flow=float(raw.get("remaining_flow", 0.0)), end_at=end_at)
    if kind == "leak":
        return Leak(at, rate_ml_per_day=float(raw.get("rate_ml_per_day", 0.2)))
    if kind == "pocket_fill":
        return PocketFill(at, fraction=float(raw.get("fraction", 0.3)))
    if kind == "precipitate":
        return RestrictorPrecipitate(at, daily_flow_loss=float(raw.get("daily_flow_loss", 0.01)))
    raise ValueError(f"unknown fault kind {kind!r}")


def _patient(config: ClinicConfig, index: int, raw: dict[str, Any]) -> PatientPlan:
    family = PumpFamily(raw.get("family", "constant_flow"))
    programmable = family is PumpFamily.PROGRAMMABLE
    return PatientPlan(
        serial=str(raw.get("serial", f"SC-{index:05d}")),
        patient_ref=str(raw.get("patient_ref", f"PT-S{index:05d}")),
        family=family,
        model_id=PROGRAMMABLE_MODEL if programmable else CONSTANT_FLOW_MODEL,
        body_mass_kg=float(raw.get("body_mass_kg", 70.0)),
        rate_ml_per_day=float(raw.get("rate_ml_per_day", 0.5 if programmable else 1.0)),
        unit_factor=float(raw.get("unit_factor", 1.0)),
        last_fill_days_before_start=float(raw.get("last_fill_days_before_start", 0.0)),
        faults=tuple(_fault(config, f) for f in raw.get("faults", ())),
        eri_at=config.start_at + timedelta(days=float(raw.get("eri_day", 10_000))) if programmable else None,
        no_show_visits=frozenset(int(n) for n in raw.get("no_show_visits", ())),
        late_visits=frozenset(int(n) for n in raw.get("late_visits", ())),
    )


def load_scenario(path: Path, config: ClinicConfig) -> tuple[ClinicConfig, list[PatientPlan]]:
    """The configuration with the file's days, seed and rates, and its patients.

    Raises:
        ValueError: a file that is not a scenario (no patients, an unknown family or fault).
    """
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not raw.get("patients"):
        raise ValueError(f"{path}: a scenario needs a non-empty 'patients' list")
    rates = dataclasses.replace(ClinicRates(), **raw.get("rates", {}))
    config = dataclasses.replace(
        config, days=int(raw.get("days", config.days)), seed=int(raw.get("seed", config.seed)), rates=rates
    )
    plans = [_patient(config, i, p) for i, p in enumerate(raw["patients"])]
    config = dataclasses.replace(
        config,
        programmable=sum(1 for p in plans if p.family is PumpFamily.PROGRAMMABLE),
        constant_flow=sum(1 for p in plans if p.family is PumpFamily.CONSTANT_FLOW),
    )
    return config, plans
