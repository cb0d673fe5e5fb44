"""How a simulated pump writes values into its log entries: HPP/1 quantity strings and times.

Log entries travel to the host as JSON, so every quantity carries its unit (``"20 mL"``) and
every time is ISO 8601 UTC, exactly as in the protocol's commands.
"""

from datetime import UTC, datetime
from typing import Any

from schemas.prescription import ContinuousPrescription, StepsPrescription, StoppedPrescription
from schemas.status import DrugInPump
from schemas.units import format_quantity

__all__ = ["drug_data", "prescription_data", "quantity", "timestamp"]


def quantity(value: float, kind: str, unit: str | None = None) -> str:
    """A canonical float as a protocol quantity string, e.g. ``"11.84 mL"``."""
    return format_quantity(value, kind, unit)


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second's fraction the clock has."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def prescription_data(rx: ContinuousPrescription | StepsPrescription | StoppedPrescription) -> dict[str, Any]:
    """A prescription in HPP/1's JSON shape (with its ``rx_id``)."""
    data: dict[str, Any] = {"mode": rx.mode}
    if isinstance(rx, ContinuousPrescription):
        data["rate"] = quantity(rx.rate_ml_per_day, "rate")
    elif isinstance(rx, StepsPrescription):
        data["steps"] = [
            {"start": s.start.strftime("%H:%M"), "rate": quantity(s.rate_ml_per_day, "rate")} for s in rx.steps
        ]
    if rx.rx_id is not None:
        data["rx_id"] = rx.rx_id
    return data


def drug_data(drug: DrugInPump) -> dict[str, Any]:
    """The drug a pump holds in HPP/1's shape: ``{"name", "concentration"}`` (no concentration for a vehicle)."""
    data: dict[str, Any] = {"name": drug.name}
    if drug.conc_mg_per_ml is not None:
        unit = "ug/mL" if drug.conc_mg_per_ml < 1.0 else "mg/mL"
        data["concentration"] = quantity(drug.conc_mg_per_ml, "mass_concentration", unit)
    elif drug.conc_usp_u_per_ml is not None:
        data["concentration"] = quantity(drug.conc_usp_u_per_ml, "activity_concentration")
    return data
