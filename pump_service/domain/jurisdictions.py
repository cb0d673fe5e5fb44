"""The Medicare jurisdictions a clinic may name: the one list the service validates against.

Source: CMS, "A/B Medicare Administrative Contractor (MAC) Jurisdictions" (the A/B MAC
jurisdiction map on cms.gov, as of 2026): the twelve current A/B MAC jurisdictions. Legacy
numbered jurisdictions (J1-J4, J7, J9-J14) were consolidated and are not accepted. Billing reads
``clinic.jurisdiction`` to pick regional rules (for example a Palmetto GBA article for JJ/JM).
"""

from pump_service.errors import RuleViolationError

__all__ = ["MAC_JURISDICTIONS", "check_jurisdiction"]

MAC_JURISDICTIONS: dict[str, str] = {
    "J5": "Wisconsin Physicians Service (IA, KS, MO, NE)",
    "J6": "National Government Services (IL, MN, WI)",
    "J8": "Wisconsin Physicians Service (IN, MI)",
    "J15": "CGS Administrators (KY, OH)",
    "JE": "Noridian (CA, HI, NV, Pacific territories)",
    "JF": "Noridian (AK, AZ, ID, MT, ND, OR, SD, UT, WA, WY)",
    "JH": "Novitas Solutions (AR, CO, LA, MS, NM, OK, TX)",
    "JJ": "Palmetto GBA (AL, GA, TN)",
    "JK": "National Government Services (CT, ME, MA, NH, NY, RI, VT)",
    "JL": "Novitas Solutions (DE, DC, MD, NJ, PA)",
    "JM": "Palmetto GBA (NC, SC, VA, WV)",
    "JN": "First Coast Service Options (FL, PR, USVI)",
}


def check_jurisdiction(code: str) -> str:
    """``code`` if it is a current A/B MAC jurisdiction.

    Raises:
        RuleViolationError: any other code (the message lists the valid ones).
    """
    if code not in MAC_JURISDICTIONS:
        known = ", ".join(MAC_JURISDICTIONS)
        raise RuleViolationError(f"unknown jurisdiction {code!r}; expected one of {known}", field="jurisdiction")
    return code
