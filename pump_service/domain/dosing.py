"""How much drug goes into a fill so that the pump's flow delivers the prescribed daily dose.

For a pump delivering Q mL/day, a daily dose D (mg/kg/day for a patient of W kg, or mg/day)
needs a concentration ``C = D*W / Q`` and, for a fill of V mL, an amount ``C * V``. A
constant-flow pump's dose can only be changed this way, at a refill. Dose guards come from the
drug catalogue; they produce warnings that the service refuses without a clinician's override.
"""

from dataclasses import dataclass
from enum import StrEnum

from pump_service.errors import RuleViolationError
from schemas.drug import AmountBasis, DoseBasis, Drug

__all__ = ["DosePlan", "DoseWarning", "plan_dose"]


class DoseWarning(StrEnum):
    BELOW_GUARD = "below_dose_guard"
    ABOVE_GUARD = "above_dose_guard"
    ABOVE_MAX_CONCENTRATION = "above_max_concentration"


@dataclass(frozen=True, slots=True)
class DosePlan:
    """Amounts in the drug's canonical unit: mg (mass drugs) or USP units (heparin)."""

    drug_id: str
    daily_amount: float  # mg/day or USP_U/day delivered at the planned flow
    concentration: float  # mg/mL or USP_U/mL in the fill
    amount: float  # mg or USP_U in the whole fill
    stock_concentration: float | None
    stock_volume_ml: float | None  # volume of stock to draw; the rest of the fill is vehicle
    guard_dose: float | None  # the dose expressed in the guard's basis
    warnings: tuple[DoseWarning, ...]


_MASS_BASES = (DoseBasis.MG_PER_KG_PER_DAY, DoseBasis.MG_PER_DAY)


def _daily_amount(dose: float, basis: DoseBasis, body_mass_kg: float | None) -> float:
    if basis is DoseBasis.MG_PER_KG_PER_DAY:
        if body_mass_kg is None or body_mass_kg <= 0:
            raise RuleViolationError("a mg/kg/day dose needs the patient's body mass", field="body_mass_kg")
        return dose * body_mass_kg
    return dose


def _in_basis(daily_amount: float, basis: DoseBasis, body_mass_kg: float | None) -> float | None:
    if basis is DoseBasis.MG_PER_KG_PER_DAY:
        return None if not body_mass_kg else daily_amount / body_mass_kg
    return daily_amount


def plan_dose(
    *,
    drug: Drug,
    dose: float,
    dose_basis: DoseBasis,
    rate_ml_per_day: float,
    fill_volume_ml: float,
    body_mass_kg: float | None = None,
    stock_concentration: float | None = None,
) -> DosePlan:
    """Concentration and amount for ``dose`` (canonical, in ``dose_basis``) at the given flow and fill.

    ``stock_concentration`` (canonical) picks the vial strength to draw from; by default the
    weakest stock that still fits in the fill is used.

    Raises:
        RuleViolationError: a vehicle drug, a basis that does not match the drug (mg for heparin),
            a missing body mass, non-positive rate or fill, a negative dose, or a concentration
            that no stock can reach within the fill volume.
    """
    if drug.amount_basis is AmountBasis.VEHICLE:
        raise RuleViolationError(f"{drug.name} is a vehicle and has no dose", field="drug_id")
    mass_drug = drug.amount_basis is AmountBasis.MASS
    if mass_drug != (dose_basis in _MASS_BASES):
        raise RuleViolationError(f"{drug.name} is not dosed in {dose_basis.value}", field="dose")
    if dose < 0:
        raise RuleViolationError("dose must not be negative", field="dose")
    if rate_ml_per_day <= 0:
        raise RuleViolationError("the pump's flow must be positive to deliver a dose", field="rate_ml_per_day")
    if fill_volume_ml <= 0:
        raise RuleViolationError("fill volume must be positive", field="fill_volume_ml")

    daily = _daily_amount(dose, dose_basis, body_mass_kg)
    concentration = daily / rate_ml_per_day
    amount = concentration * fill_volume_ml

    stock, stock_volume = _choose_stock(drug, amount, fill_volume_ml, stock_concentration)

    warnings: list[DoseWarning] = []
    guard_dose: float | None = None
    if drug.dose_guard is not None:
        guard_dose = _in_basis(daily, drug.dose_guard.basis, body_mass_kg)
        if guard_dose is not None and guard_dose < drug.dose_guard.minimum:
            warnings.append(DoseWarning.BELOW_GUARD)
        elif guard_dose is not None and guard_dose > drug.dose_guard.maximum:
            warnings.append(DoseWarning.ABOVE_GUARD)
    if drug.max_concentration is not None and concentration > drug.max_concentration:
        warnings.append(DoseWarning.ABOVE_MAX_CONCENTRATION)
    return DosePlan(
        drug_id=drug.drug_id,
        daily_amount=daily,
        concentration=concentration,
        amount=amount,
        stock_concentration=stock,
        stock_volume_ml=stock_volume,
        guard_dose=guard_dose,
        warnings=tuple(warnings),
    )


def _choose_stock(
    drug: Drug, amount: float, fill_volume_ml: float, requested: float | None
) -> tuple[float | None, float | None]:
    if requested is not None:
        if requested <= 0:
            raise RuleViolationError("stock concentration must be positive", field="stock_concentration")
        candidates: tuple[float, ...] = (requested,)
    else:
        candidates = tuple(sorted(drug.stock_concentrations))
    if not candidates:
        return None, None
    for stock in candidates:
        volume = amount / stock
        if volume <= fill_volume_ml:
            return stock, volume
    raise RuleViolationError(
        f"{amount:g} {'mg' if drug.amount_basis is AmountBasis.MASS else 'USP units'} of {drug.name} "
        f"does not fit in a {fill_volume_ml:g} mL fill at {max(candidates):g} per mL",
        field="dose",
    )
