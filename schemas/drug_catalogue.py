"""The drugs and infusates the service knows. Figures marked [U] await the pharmacy's confirmation."""

from typing import Final

from schemas.drug import AmountBasis, DoseBasis, DoseGuard, Drug
from schemas.pump import DeliveryRoute

__all__ = ["DRUGS", "UnknownDrugError", "get_drug"]

_IA = (DeliveryRoute.INTRA_ARTERIAL,)
_SYSTEMIC = (DeliveryRoute.INTRA_ARTERIAL, DeliveryRoute.INTRAVENOUS)
_ALL = tuple(DeliveryRoute)
_SPINAL = (DeliveryRoute.INTRATHECAL, DeliveryRoute.EPIDURAL)

DRUGS: Final[dict[str, Drug]] = {
    d.drug_id: d
    for d in (
        Drug(
            drug_id="floxuridine",
            name="Floxuridine (FUDR)",
            amount_basis=AmountBasis.MASS,
            stock_concentrations=(100.0,),
            max_concentration=100.0,
            stability_days=14.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_KG_PER_DAY, minimum=0.1, maximum=0.6, source="labelling 0.1-0.6 mg/kg/day [V]"
            ),
            routes=_IA,
            hcpcs_code="J9200",
            billing_unit_amount=500.0,
            billing_unit_label="500 mg",
            source="100 mg/mL after reconstitution [V] GlobalRPh; in-pump stability = HAI cycle [U]",
        ),
        Drug(
            drug_id="heparin",
            name="Heparin sodium",
            amount_basis=AmountBasis.ACTIVITY,
            stock_concentrations=(1000.0, 5000.0, 10000.0),
            max_concentration=10000.0,
            stability_days=28.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.USP_U_PER_DAY,
                minimum=0.0,
                maximum=10000.0,
                source="30,000-50,000 U per 14-day HAI fill [U]",
            ),
            routes=_SYSTEMIC,
            hcpcs_code="J1644",
            billing_unit_amount=1000.0,
            billing_unit_label="1000 USP units",
            source="J1644 per 1,000 units [V]; stability [U]",
        ),
        Drug(
            drug_id="saline",
            name="Sodium chloride 0.9 %",
            amount_basis=AmountBasis.VEHICLE,
            routes=_ALL,
            hcpcs_code="A4216",
            billing_unit_amount=10.0,
            billing_unit_label="10 mL",
            source="A4216 per 10 mL [V]",
        ),
        Drug(
            drug_id="bacteriostatic_water",
            name="Bacteriostatic water",
            amount_basis=AmountBasis.VEHICLE,
            routes=_SYSTEMIC,
            hcpcs_code="A4216",
            billing_unit_amount=10.0,
            billing_unit_label="10 mL",
            source="approved Intera infusate [V]; A4216 [V]",
        ),
        Drug(
            drug_id="glycerin",
            name="Glycerin injection",
            amount_basis=AmountBasis.VEHICLE,
            relative_viscosity=4.0,
            routes=_IA,
            hcpcs_code="J3490",
            billing_unit_amount=1.0,
            billing_unit_label="1 (unclassified)",
            source="placeholder/interval extender [V] Intera; viscosity ratio 4 [U] (50 % w/w glycerol ~4-5x)",
        ),
        Drug(
            drug_id="baclofen",
            name="Baclofen intrathecal",
            amount_basis=AmountBasis.MASS,
            stock_concentrations=(0.5, 1.0, 2.0),
            max_concentration=2.0,
            stability_days=180.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_DAY, minimum=0.012, maximum=2.0, source="maintenance 12-2000 ug/day [U]"
            ),
            routes=_SPINAL,
            hcpcs_code="J0475",
            billing_unit_amount=10.0,
            billing_unit_label="10 mg",
            source="J0475 per 10 mg [V]; strengths 500/1000/2000 ug/mL and stability [U]",
        ),
        Drug(
            drug_id="morphine",
            name="Morphine sulfate, preservative-free",
            amount_basis=AmountBasis.MASS,
            stock_concentrations=(0.5, 1.0, 10.0, 25.0),
            max_concentration=25.0,
            stability_days=90.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_DAY, minimum=0.1, maximum=15.0, source="intrathecal ceiling 15 mg/day [U]"
            ),
            routes=_SPINAL,
            hcpcs_code="J2274",
            billing_unit_amount=10.0,
            billing_unit_label="10 mg",
            source="90-day stability [V] UW Health; J2274 per 10 mg [V]; >10 mg/mL precipitation risk [V]",
        ),
        Drug(
            drug_id="ziconotide",
            name="Ziconotide",
            amount_basis=AmountBasis.MASS,
            stock_concentrations=(0.025, 0.1),
            max_concentration=0.1,
            stability_days=60.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_DAY, minimum=0.0024, maximum=0.0216, source="2.4-21.6 ug/day [V] EU SmPC"
            ),
            routes=(DeliveryRoute.INTRATHECAL,),
            hcpcs_code="J2278",
            billing_unit_amount=0.001,
            billing_unit_label="1 ug",
            source="dose range [V] SmPC; J2278 per 1 ug [S]; 25/100 ug/mL and 60-day stability [U]",
        ),
        Drug(
            drug_id="dexamethasone",
            name="Dexamethasone sodium phosphate",
            amount_basis=AmountBasis.MASS,
            stock_concentrations=(4.0, 10.0),
            max_concentration=10.0,
            stability_days=14.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_DAY, minimum=0.0, maximum=4.0, source="~25 mg per 14-day HAI fill [U]"
            ),
            routes=_IA,
            hcpcs_code="J1100",
            billing_unit_amount=1.0,
            billing_unit_label="1 mg",
            source="J1100 per 1 mg [U]; HAI additive [U]",
        ),
    )
}


class UnknownDrugError(LookupError, ValueError):
    """A drug id that is not in the catalogue."""


def get_drug(drug_id: str) -> Drug:
    """Look a drug up by id.

    Raises:
        UnknownDrugError: the id is not in :data:`DRUGS` (the message lists the known ids).
    """
    try:
        return DRUGS[drug_id]
    except KeyError:
        known = ", ".join(sorted(DRUGS))
        raise UnknownDrugError(f"unknown drug {drug_id!r} (known: {known})") from None
