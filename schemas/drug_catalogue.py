"""The drugs and infusates the service knows, each figure with its source or "placeholder".

``figure_sources`` cites each figure from the labels and papers collected in the domain notes
([S] stated in a source, [D] derived from sourced inputs); a figure nobody could source says
"placeholder" and awaits the pharmacy's confirmation. docs/domain.md lists them all.
"""

from typing import Final

from schemas.drug import AmountBasis, DoseBasis, DoseGuard, Drug
from schemas.pump import DeliveryRoute
from schemas.sourcing import PLACEHOLDER

__all__ = ["DRUGS", "UnknownDrugError", "get_drug"]

_IA = (DeliveryRoute.INTRA_ARTERIAL,)
_SYSTEMIC = (DeliveryRoute.INTRA_ARTERIAL, DeliveryRoute.INTRAVENOUS)
_ALL = tuple(DeliveryRoute)
_SPINAL = (DeliveryRoute.INTRATHECAL, DeliveryRoute.EPIDURAL)

_FUDR_LABEL: Final = (
    "floxuridine label: 0.1-0.6 mg/kg/day by continuous arterial infusion [S] "
    "https://themeditary.com/dosage-information/floxuridine-dosage-10284.html ; LiverTox"
)
_FUDR_STOCK: Final = "500 mg vial reconstituted to 100 mg/mL [S] LiverTox (NCBI Bookshelf, Floxuridine); GlobalRPh"
_LIORESAL: Final = (
    "Lioresal Intrathecal 50, 500 and 2000 mcg/mL [S] "
    "http://webmail.druglib.com/druginfo/lioresal-intrathecal/description_pharmacology/ ; "
    "https://lioresal.com/hcp/dosing-and-administration/ampules-refill-kit/"
)
_ITB_180_DAYS: Final = (
    'ITB pumps "recommended to be refilled within a maximum of 180 days" [S] 2023 in-vivo stability study '
    "(PMID 38043050), https://tokyo-2-qrcode.vukou.com/38043050"
)
_INFUMORPH: Final = "Infumorph (morphine, preservative-free) label [S] http://www.empr.com/infumorph/drug/3820/"
_MORPHINE_90_DAYS: Final = (
    "morphine stable in the pump up to 90 days [S] UW Health nursing hub, "
    "https://uconnect.wisc.edu/cosmos/swiftbot/clinical/nursing-hub/intrathecal-pump/pump-refills/"
)
_PRIALT_PUMP: Final = (
    "Prialt label, intrathecal pump use [S] "
    "https://www.prialt.com/for-healthcare-professionals/intrathecal-pump-use-drug-delivery/ ; "
    "https://prescriberpoint.com/therapies/prialt-b025d8e"
)
_PRIALT_STRENGTHS: Final = (
    "Prialt vials 25 mcg/mL (20 mL) and 100 mcg/mL (1 or 5 mL) [S] (domain notes, sourced-figures §0)"
)
_ZICONOTIDE_SMPC: Final = (
    "start 2.4 ug/day, maximum 21.6 ug/day [S] Prialt EU SmPC, "
    "https://ec.europa.eu/health/documents/community-register/2012/20120206117429/anx_117429_en.pdf"
)
_SALINE_LIKE: Final = "[D] a dilute aqueous solution flows like water/saline at 37 degC (domain notes §1.3)"
_STRONGEST_STOCK: Final = "[D] the strongest labelled stock strength; "

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
                basis=DoseBasis.MG_PER_KG_PER_DAY, minimum=0.1, maximum=0.6, source="label 0.1-0.6 mg/kg/day [S]"
            ),
            routes=_IA,
            hcpcs_code="J9200",
            billing_unit_amount=500.0,
            billing_unit_label="500 mg",
            source="100 mg/mL after reconstitution [S]; dose range [S] label; in-pump stability placeholder",
            figure_sources={
                "stock_concentrations": _FUDR_STOCK,
                "max_concentration": _STRONGEST_STOCK + _FUDR_STOCK,
                "stability_days": PLACEHOLDER,
                "dose_guard": _FUDR_LABEL,
                "relative_viscosity": _SALINE_LIKE,
                "billing_unit_amount": PLACEHOLDER,
            },
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
                source="placeholder: 30,000-50,000 U per 14-day HAI fill was not found in any source",
            ),
            routes=_SYSTEMIC,
            hcpcs_code="J1644",
            billing_unit_amount=1000.0,
            billing_unit_label="1000 USP units",
            source="J1644 per 1,000 units [V]; strengths, stability and units per fill placeholders",
            figure_sources={
                "stock_concentrations": PLACEHOLDER,
                "max_concentration": PLACEHOLDER,
                "stability_days": PLACEHOLDER,
                "dose_guard": PLACEHOLDER,
                "relative_viscosity": PLACEHOLDER,
                "billing_unit_amount": "HCPCS J1644 per 1000 units [V] https://www.carepatron.com/procedure-code/hcpcs-code-j1644/",
            },
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
            figure_sources={
                "relative_viscosity": "[D] 1.0 by definition: saline is the reference infusate of relative_viscosity",
                "billing_unit_amount": "HCPCS A4216 per 10 mL [V] "
                "https://genhealth.ai/code/hcpcs/A4216-sterile-water-saline-andor-dextrose-diluentflush-10-ml",
            },
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
            figure_sources={
                "relative_viscosity": _SALINE_LIKE,
                "billing_unit_amount": "HCPCS A4216 per 10 mL [V] "
                "https://genhealth.ai/code/hcpcs/A4216-sterile-water-saline-andor-dextrose-diluentflush-10-ml",
            },
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
            source="placebo/interval extender [V] Intera; viscosity ratio placeholder (50 % w/w glycerol ~4.9x [D])",
            figure_sources={
                "relative_viscosity": PLACEHOLDER,
                "billing_unit_amount": "J3490 unclassified drug, quantity 1 with a narrative [V] Noridian",
            },
        ),
        Drug(
            drug_id="baclofen",
            name="Baclofen intrathecal",
            amount_basis=AmountBasis.MASS,
            stock_concentrations=(0.05, 0.5, 2.0),
            max_concentration=2.0,
            stability_days=180.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_DAY,
                minimum=0.012,
                maximum=2.0,
                source="placeholder: maintenance 12-2000 ug/day, the label's range was not retrieved",
            ),
            routes=_SPINAL,
            hcpcs_code="J0475",
            billing_unit_amount=10.0,
            billing_unit_label="10 mg",
            source="Lioresal IT 50/500/2000 ug/mL [S]; 180-day refill maximum [S]; J0475 per 10 mg [V]; "
            "maintenance dose range placeholder",
            figure_sources={
                "stock_concentrations": _LIORESAL,
                "max_concentration": _STRONGEST_STOCK + _LIORESAL,
                "stability_days": _ITB_180_DAYS,
                "dose_guard": PLACEHOLDER,
                "relative_viscosity": PLACEHOLDER,
                "billing_unit_amount": "HCPCS J0475 per 10 mg [V] https://genhealth.ai/code/hcpcs/J0475-injection-baclofen-10-mg",
            },
        ),
        Drug(
            drug_id="morphine",
            name="Morphine sulfate, preservative-free",
            amount_basis=AmountBasis.MASS,
            # Infumorph's 10 and 25 mg/mL only: 0.5 and 1 mg/mL were never confirmed for pump use, and
            # the stock list is what the dose plan draws from; a compounded dilution names its `stock`.
            stock_concentrations=(10.0, 25.0),
            max_concentration=25.0,
            stability_days=90.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_DAY,
                minimum=0.2,
                warn_above=10.0,
                maximum=20.0,
                source="Infumorph IT: naive 0.2-1 mg/day, tolerant 1-10 mg/day, caution above 20 mg/day [S]",
            ),
            routes=_SPINAL,
            hcpcs_code="J2274",
            billing_unit_amount=10.0,
            billing_unit_label="10 mg",
            source="Infumorph 10/25 mg/mL and IT dose ranges [S]; 90-day stability [V] UW Health; J2274 per 10 mg "
            "[V]; >10 mg/mL precipitation risk in MedStream pumps [V]",
            figure_sources={
                "stock_concentrations": "Infumorph 10 and 25 mg/mL " + _INFUMORPH,
                "max_concentration": _STRONGEST_STOCK + _INFUMORPH,
                "stability_days": _MORPHINE_90_DAYS,
                "dose_guard": "minimum 0.2 = naive 0.2-1 mg/day, warning above 10 = tolerant 1-10 mg/day, "
                "hard stop above 20 = caution above 20 mg/day; " + _INFUMORPH,
                "relative_viscosity": PLACEHOLDER,
                "billing_unit_amount": "HCPCS J2274 per 10 mg [V] https://genhealth.ai/code/hcpcs/"
                "J2274-injection-morphine-sulfate-preservative-free-for-epidural-or-intrathecal-use-10-mg",
            },
        ),
        Drug(
            drug_id="ziconotide",
            name="Ziconotide",
            amount_basis=AmountBasis.MASS,
            stock_concentrations=(0.025, 0.1),
            max_concentration=0.1,
            stability_days=40.0,
            stability_days_first_fill=14.0,
            stability_days_undiluted=84.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_DAY, minimum=0.0024, maximum=0.0216, source="2.4-21.6 ug/day [V] EU SmPC"
            ),
            routes=(DeliveryRoute.INTRATHECAL,),
            hcpcs_code="J2278",
            billing_unit_amount=0.001,
            billing_unit_label="1 ug",
            source="25/100 ug/mL [S]; first refill of a naive pump within 14 days, then every 40 days diluted or "
            "84 days undiluted [S] label; dose range [V] SmPC; J2278 per 1 ug [S]",
            figure_sources={
                "stock_concentrations": _PRIALT_STRENGTHS,
                "max_concentration": _STRONGEST_STOCK + _PRIALT_STRENGTHS,
                "stability_days": "refill at least every 40 days when diluted; " + _PRIALT_PUMP,
                "stability_days_first_fill": "first refill of a drug-naive pump within 14 days; " + _PRIALT_PUMP,
                "stability_days_undiluted": "refill at least every 84 days when undiluted; " + _PRIALT_PUMP,
                "dose_guard": _ZICONOTIDE_SMPC,
                "relative_viscosity": PLACEHOLDER,
                "billing_unit_amount": "HCPCS J2278 per 1 mcg [S] https://coding.health/hcpcs-code-j2278",
            },
        ),
        Drug(
            drug_id="dexamethasone",
            name="Dexamethasone sodium phosphate",
            amount_basis=AmountBasis.MASS,
            stock_concentrations=(4.0, 10.0),
            max_concentration=10.0,
            stability_days=14.0,
            dose_guard=DoseGuard(
                basis=DoseBasis.MG_PER_DAY,
                minimum=0.0,
                maximum=4.0,
                source="placeholder range; the Kemeny RCT's 20 mg per 14 days (1.43 mg/day) [S] lies inside",
            ),
            routes=_IA,
            hcpcs_code="J1100",
            billing_unit_amount=1.0,
            billing_unit_label="1 mg",
            source="HAI additive, 20 mg per 14 days in the Kemeny RCT [S]; strengths, stability, range and "
            "J1100 unit placeholders",
            figure_sources={
                "stock_concentrations": PLACEHOLDER,
                "max_concentration": PLACEHOLDER,
                "stability_days": PLACEHOLDER,
                "dose_guard": PLACEHOLDER,
                "relative_viscosity": PLACEHOLDER,
                "billing_unit_amount": PLACEHOLDER,
            },
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
