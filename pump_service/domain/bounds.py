"""Plausibility bounds: the range every quantity of a refill must lie in before anything is computed.

A value outside its bound is refused (HTTP 422, CLI exit 2) with the field, the value and the
range; it never reaches the arithmetic. Figures that describe the patient or the device are
bounds here; judgements about what was measured (a flow outside the pump's band, a dose above
the label) are findings (:mod:`.findings`), because a clinician may have a reason. Each bound
says where its numbers come from; docs/domain.md lists them.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from pump_service.errors import RuleViolationError

__all__ = [
    "ACTIVITY_USP_U",
    "BODY_MASS_KG",
    "CONSTANT_FLOW_BAND_PCT",
    "DOSE_MG_PER_DAY",
    "DOSE_MG_PER_KG_PER_DAY",
    "DOSE_USP_U_PER_DAY",
    "DUPLICATE_WINDOW",
    "FILL_VOLUME_ML",
    "MASS_MG",
    "MIN_FILL_ML",
    "RETURNED_VOLUME_ML",
    "SHORT_INTERVAL",
    "SYRINGE_RESOLUTION_ML",
    "Bound",
]


@dataclass(frozen=True, slots=True)
class Bound:
    """A closed range ``low..high`` in ``unit``, or open at ``low`` when ``low_exclusive``."""

    label: str
    low: float
    high: float
    unit: str
    source: str
    low_exclusive: bool = False

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above_low = value > self.low if self.low_exclusive else value >= self.low
        return above_low and value <= self.high

    def describe(self) -> str:
        low = f"more than {self.low:g}" if self.low_exclusive else f"{self.low:g}"
        return f"{low} to {self.high:g} {self.unit}"

    def message(self, value: float) -> str:
        return f"{self.label} {value:g} {self.unit} is outside the plausible range {self.describe()} ({self.source})"

    def check(self, value: float, field: str) -> float:
        """Return ``value`` if inside, else raise.

        Raises:
            RuleViolationError: naming ``field``, the value and the range.
        """
        if not self.contains(value):
            raise RuleViolationError(self.message(value), field=field)
        return value


BODY_MASS_KG = Bound(
    "body mass",
    2.0,
    350.0,
    "kg",
    "a term neonate weighs about 2.5 kg, the heaviest patients seen in clinics about 300 kg; "
    "a value outside is a unit slip such as '70 mg'",
)
# The smallest fill the service accepts. No catalogue pump is filled with less than a millilitre
# (the label minimum residuals are 1-2 mL), and below that the fill is within a few graduations
# of the syringe, so neither the dose nor the next due date can be computed from it.
MIN_FILL_ML = 1.0
FILL_VOLUME_ML = Bound(
    "fill volume", MIN_FILL_ML, 100.0, "mL", "at least 1 mL; the largest implanted reservoir is 60 mL", False
)
RETURNED_VOLUME_ML = Bound("returned volume", 0.0, 100.0, "mL", "0 up to the largest implanted reservoir (60 mL)")
SYRINGE_RESOLUTION_ML = Bound(
    "syringe graduation", 0.01, 1.0, "mL", "1 mL syringes are graduated in 0.01 mL, 50-60 mL syringes in 1 mL"
)
DOSE_MG_PER_KG_PER_DAY = Bound(
    "weight-based dose", 0.0, 10.0, "mg/kg/d", "above 10 mg/kg/day no catalogue drug is infused", low_exclusive=True
)
DOSE_MG_PER_DAY = Bound(
    "daily dose", 0.0, 1000.0, "mg/d", "FUDR 0.6 mg/kg/day at 350 kg is 210 mg/day, the largest", low_exclusive=True
)
DOSE_USP_U_PER_DAY = Bound(
    "daily dose", 0.0, 100_000.0, "USP_U/d", "heparin in pumps is a few thousand units a day", low_exclusive=True
)
MASS_MG = Bound(
    "amount", 0.0, 10_000.0, "mg", "the strongest stock (100 mg/mL) in the largest reservoir is 6,000 mg", True
)
ACTIVITY_USP_U = Bound(
    "amount", 0.0, 1_000_000.0, "USP_U", "10,000 USP_U/mL in the largest reservoir is 600,000 units", True
)

# A measured flow more than this far from the pump's condition-corrected rate is not a pump
# running fast or slow: it is a measurement or entry error, or a fault to investigate. The
# labelled accuracy of constant-flow pumps is about +-10 % (Infusaid) and fevers or altitude
# move the flow by tens of percent, which the condition periods already correct for.
CONSTANT_FLOW_BAND_PCT = 50.0
# Two refills of one pump this close are one refill entered twice (a retry without its key).
DUPLICATE_WINDOW = timedelta(hours=1)
# Below a day the delivered volume (about 1 mL for an HAI pump) is a few syringe graduations, so
# the measured flow means nothing; a refill this soon is an intervention that needs a clinician.
SHORT_INTERVAL = timedelta(days=1)
