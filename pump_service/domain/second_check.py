"""The second-person check of a spinal fill: does a second clinician's confirmation match the fill?

A drug that reaches the spinal canal (an intrathecal or epidural pump, or a drug the catalogue
allows only there) is checked by a second person before the pump is filled: they confirm the
drug, its concentration and the fill volume. Without a confirmation matching every active drug of
the fill, the refill meets the ``second_check_missing`` hard stop, which no override clears.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pump_service.domain.findings import Finding, FindingCode, Tier
from pump_service.domain.refill_inputs import PlannedComponent
from pump_service.domain.return_findings import SPINAL_ROUTES
from schemas.drug import AmountBasis
from schemas.pump import DeliveryRoute

__all__ = ["SPINAL_ROUTES", "SecondCheck", "second_check_findings", "second_check_required"]

# Concentrations are read off the same label by both people; allow only rounding of the figure.
CONCENTRATION_REL_TOL = 0.005
# Without a stated syringe graduation, the finest one the bounds allow a 20 mL pump's syringe.
DEFAULT_VOLUME_TOL_ML = 0.1


@dataclass(frozen=True, slots=True)
class SecondCheck:
    """What the second person confirmed, and who they are."""

    signer: str
    role: str
    signed_at: datetime
    drug_id: str
    concentration: float
    fill_volume_ml: float
    cosignature_id: int | None = None


def second_check_required(route: DeliveryRoute, components: Sequence[PlannedComponent]) -> bool:
    """Whether the fill needs a second person: an active drug going into (or only meant for) the spine."""
    for component in components:
        drug = component.drug
        if drug.amount_basis is AmountBasis.VEHICLE:
            continue
        if route in SPINAL_ROUTES or set(drug.routes) <= SPINAL_ROUTES:
            return True
    return False


def _matches(check: SecondCheck, component: PlannedComponent, fill_volume_ml: float, volume_tol_ml: float) -> bool:
    conc = component.concentration
    return (
        check.drug_id == component.drug.drug_id
        and conc is not None
        and math.isclose(check.concentration, conc, rel_tol=CONCENTRATION_REL_TOL)
        and abs(check.fill_volume_ml - fill_volume_ml) <= volume_tol_ml + 1e-9
    )


def second_check_findings(
    route: DeliveryRoute,
    components: Sequence[PlannedComponent],
    checks: Sequence[SecondCheck],
    *,
    fill_volume_ml: float,
    syringe_resolution_ml: float | None,
) -> tuple[Finding, ...]:
    """A ``second_check_missing`` hard stop per active drug no check confirms (none if not required)."""
    if not second_check_required(route, components):
        return ()
    tol = syringe_resolution_ml if syringe_resolution_ml is not None else DEFAULT_VOLUME_TOL_ML
    findings = []
    for component in components:
        if component.drug.amount_basis is AmountBasis.VEHICLE:
            continue
        if any(_matches(c, component, fill_volume_ml, tol) for c in checks):
            continue
        unit = component.drug.concentration_unit or ""
        conc = component.concentration
        shown = f"{conc:g} {unit}" if conc is not None else "?"
        confirmed = "; ".join(f"{c.drug_id} {c.concentration:g} {unit}, {c.fill_volume_ml:g} mL" for c in checks)
        findings.append(
            Finding(
                FindingCode.SECOND_CHECK_MISSING,
                Tier.HARD_STOP,
                f"{component.drug.name} {shown}, {fill_volume_ml:g} mL into the {route.value} pump needs a second "
                "person's check of drug, concentration and volume"
                + (f" (the check given confirmed {confirmed})" if checks else ""),
                {"drug_id": component.drug.drug_id, "concentration": conc, "fill_volume_ml": fill_volume_ml},
                f"components.{component.index}",
            )
        )
    return tuple(findings)
