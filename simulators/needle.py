"""What happens at the needle, for either pump family: aspirating the residual and injecting a fill.

The syringe is read to its graduation, aspiration may be incomplete, and a pending pocket-fill
fault sends part of an injection into the pocket instead of the reservoir.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from simulators.pump_faults import PocketFill, PumpFault

__all__ = ["Aspiration", "aspirate", "pocket_share"]


@dataclass(frozen=True, slots=True)
class Aspiration:
    """What the syringe shows, what really came out, and what stayed in the pump."""

    measured_ml: float
    removed_ml: float
    left_in_pump_ml: float


def aspirate(volume_ml: float, *, resolution_ml: float, completeness: float) -> Aspiration:
    """Withdraw ``completeness`` of ``volume_ml``, read to the nearest ``resolution_ml``.

    Raises:
        ValueError: a resolution or completeness out of range.
    """
    if resolution_ml <= 0 or not 0.0 <= completeness <= 1.0:
        raise ValueError("resolution must be positive and completeness within 0..1")
    removed = volume_ml * completeness
    measured = round(removed / resolution_ml) * resolution_ml
    return Aspiration(measured_ml=measured, removed_ml=removed, left_in_pump_ml=volume_ml - removed)


def pocket_share(faults: Iterable[PumpFault], used: set[PocketFill], at: datetime, injected_ml: float) -> float:
    """Volume of an injection at ``at`` that a pending pocket-fill fault diverts (and marks it used)."""
    for fault in faults:
        if isinstance(fault, PocketFill) and fault.start_at <= at and fault not in used:
            used.add(fault)
            return injected_ml * fault.fraction
    return 0.0
