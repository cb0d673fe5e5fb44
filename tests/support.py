"""Test helpers: a fixed clock and request builders shared by several test modules."""

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class FixedClock:
    """A Clock whose time only moves when a test says so."""

    def __init__(self, now: datetime = T0) -> None:
        self._now = now
        self._monotonic = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds

    def set(self, now: datetime) -> None:
        self._now = now


def fudr_refill(performed_at: datetime, returned: Any = "0 mL", **extra: Any) -> dict[str, Any]:
    """An HAI floxuridine refill request as a client would send it."""
    body: dict[str, Any] = {
        "performed_at": performed_at.isoformat(),
        "returned_volume_ml": returned,
        "fill_volume_ml": "30 mL",
        "body_mass_kg": "70 kg",
        "components": [
            {
                "drug_id": "floxuridine",
                "dose": {"mg_per_kg_per_day": "0.12 mg/kg/d"},
                "lot": "FU1",
                "expires_on": "2027-12-31",
            },
            {"drug_id": "saline"},
        ],
    }
    body.update(extra)
    return body
