"""Seeded random patients for fleets: fevers, flights and mountain stays over a span of days.

Rates are round figures for a plausible outpatient population, not epidemiology: about two
fevers, one or two flights and the odd mountain stay a year. The same seed gives the same
patients, byte for byte.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.flow_law import FT_PER_M, ambient_pressure_mmhg
from schemas.pump import PumpModel
from schemas.pump_catalogue import get_pump_model
from simulators.conditions import Episode, PatientTimeline
from simulators.constant_flow import draw_unit_factor

__all__ = ["EPISODE_RATES", "FleetMember", "random_fleet", "random_timeline"]

# kind -> (episodes per year, shortest and longest in hours)
EPISODE_RATES: dict[str, tuple[float, float, float]] = {
    "fever": (2.0, 24.0, 96.0),
    "flight": (1.5, 2.0, 12.0),
    "mountain_stay": (0.3, 72.0, 240.0),
}


@dataclass(frozen=True, slots=True)
class FleetMember:
    """One simulated patient with one pump: everything needed to rebuild it exactly."""

    serial: str
    model: PumpModel
    unit_factor: float
    rate_ml_per_day: float
    timeline: PatientTimeline


def _episode(kind: str, rng: random.Random, start: datetime, hours: float) -> Episode:
    end = start + timedelta(hours=hours)
    if kind == "fever":
        return Episode(kind, start, end, body_temperature_c=round(rng.uniform(38.0, 40.0), 1))
    feet = rng.uniform(6000.0, 8000.0) if kind == "flight" else rng.uniform(5000.0, 10000.0)
    return Episode(kind, start, end, ambient_pressure_mmhg=ambient_pressure_mmhg(feet / FT_PER_M))


def random_timeline(rng: random.Random, start: datetime, days: float) -> PatientTimeline:
    """Episodes as Poisson processes over ``days`` from ``start`` (whole minutes, so times are exact)."""
    episodes: list[Episode] = []
    for kind, (per_year, shortest_h, longest_h) in EPISODE_RATES.items():
        at_days = rng.expovariate(per_year / 365.25)
        while at_days < days:
            begin = start + timedelta(minutes=round(at_days * 1440))
            episodes.append(_episode(kind, rng, begin, round(rng.uniform(shortest_h, longest_h) * 60) / 60))
            at_days += rng.expovariate(per_year / 365.25)
    return PatientTimeline(episodes=tuple(sorted(episodes, key=lambda e: e.start_at)))


def random_fleet(
    count: int,
    *,
    seed: int,
    start: datetime,
    days: float,
    model_id: str = "hai-30",
    constant_conditions: bool = False,
) -> list[FleetMember]:
    """``count`` patients with pumps of ``model_id`` (labelled at the model's nominal rate).

    ``constant_conditions`` leaves every patient at the reference conditions all the time.
    """
    model = get_pump_model(model_id)
    rng = random.Random(seed)
    rate = model.nominal_rate_ml_per_day or 0.5
    members = []
    for i in range(count):
        unit_factor = draw_unit_factor(model, rng)
        timeline = PatientTimeline() if constant_conditions else random_timeline(rng, start, days)
        members.append(FleetMember(f"{model_id.upper()}-{i:06d}", model, unit_factor, rate, timeline))
    return members
