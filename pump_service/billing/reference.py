"""The reference data the engine prices and checks against, as loaded for one service date.

Built only by :func:`pump_service.billing.loader.load_reference`, which validates every table and
cross-reference first; the engine can therefore trust what it finds here. Everything is frozen:
one :class:`ReferenceData` may be shared by every visit whose service date it covers.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, TypeAlias

import pint

from pump_service.billing.errors import BillingDataError
from pump_service.billing.facts import Documentation
from schemas.pump import DeliveryRoute

__all__ = [
    "ENGINE_CODES",
    "CodeCategory",
    "CodeInfo",
    "CodeSystem",
    "Coverage",
    "CoverageUse",
    "DrugBilling",
    "ExcludedUse",
    "FeeEntry",
    "MueLimit",
    "PayerProfile",
    "PtpEdit",
    "Quantity",
    "ReferenceData",
    "SettingRate",
    "icd10_matches",
]

Quantity: TypeAlias = "pint.Quantity[Any]"

# Codes the rule table emits by name; codes.toml must define each of them.
ENGINE_CODES: frozenset[str] = frozenset(
    {"96522", "96523", "96425", "95990", "95991", "62367", "62368", "62369", "62370", "77002", "76937", "A4220"}
)


class CodeSystem(StrEnum):
    CPT = "CPT"
    HCPCS = "HCPCS"


class CodeCategory(StrEnum):
    PUMP_REFILL = "pump_refill"
    PUMP_ANALYSIS = "pump_analysis"
    PORT_FLUSH = "port_flush"
    CHEMO_INITIATION = "chemo_initiation"
    IMAGING_GUIDANCE = "imaging_guidance"
    SURGERY = "surgery"
    EM = "em"
    DRUG = "drug"
    DRUG_UNCLASSIFIED = "drug_unclassified"
    SUPPLY = "supply"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One CPT/HCPCS code.

    ``billing_unit`` is the HCPCS unit of service of a drug code (None for services and for
    not-otherwise-classified codes, which bill quantity 1).
    """

    code: str
    system: CodeSystem
    category: CodeCategory
    descriptor: str
    add_on: bool = False
    facility_billable: bool = True
    drug_administration: bool = False
    billing_unit: "Quantity | None" = None
    billing_unit_label: str | None = None
    antineoplastic: bool = False
    ncci_modifier_with: frozenset[CodeCategory] = frozenset()

    @property
    def unclassified(self) -> bool:
        return self.category is CodeCategory.DRUG_UNCLASSIFIED


@dataclass(frozen=True, slots=True)
class DrugBilling:
    """How a catalogue drug is billed: its code, and the unit its amounts are counted in."""

    drug_id: str
    name: str
    code: CodeInfo
    amount_unit: str


@dataclass(frozen=True, slots=True)
class PayerProfile:
    """A payer's choices on every payer-dependent rule; see ``data/profiles.toml`` for each key."""

    profile_id: str
    name: str
    fee_schedule: str | None
    facility_pos: frozenset[str]
    kd_modifier_on_pump_drugs: bool
    jw_jz_modifiers: bool
    compounded_drug_code: str
    compounded_antineoplastic_code: str
    a4220_billable: bool
    a4220_patient_liability_zero: bool
    patency_drugs_billable: bool
    drugs_billable_in_facility: bool
    em_on_refill_visit: bool
    imaging_guidance_billable: bool
    distinct_modifier: str
    covered_uses: tuple[str, ...]
    covered_from: Mapping[str, date]
    prior_auth_uses: frozenset[str]
    label_pairs: frozenset[tuple[DeliveryRoute, str]]
    excluded_uses: tuple[str, ...]
    regional_dx: bool
    source: str = "profiles.toml"  # where the profile was defined: the packaged file or a clinic's set-up

    def is_facility(self, place_of_service: str) -> bool:
        return place_of_service in self.facility_pos


@dataclass(frozen=True, slots=True)
class SettingRate:
    """A fee in one setting: RVUs (times the conversion factor) or dollars per unit.

    ``not_payable`` is the fee schedule's "NA"; all three empty means the figure is unknown.
    """

    rvu: float | None = None
    usd: float | None = None
    not_payable: bool = False


@dataclass(frozen=True, slots=True)
class FeeEntry:
    code: str
    work_rvu: float | None
    facility: SettingRate
    nonfacility: SettingRate
    source: str


@dataclass(frozen=True, slots=True)
class MueLimit:
    """Most units per line (MAI 1) or per date of service (MAI 2 absolute, 3 appealable)."""

    code: str
    units: int
    mai: int
    status: str


@dataclass(frozen=True, slots=True)
class PtpEdit:
    column_1: str
    column_2: str
    modifier_indicator: int
    status: str


@dataclass(frozen=True, slots=True)
class CoverageUse:
    use_id: str
    description: str
    routes: frozenset[DeliveryRoute]
    drugs: frozenset[str]
    dx_rules: tuple[tuple[str, ...], ...]
    regional_dx_rules: tuple[tuple[str, ...], ...]
    documentation: tuple[Documentation, ...]


@dataclass(frozen=True, slots=True)
class ExcludedUse:
    use_id: str
    description: str
    drugs: frozenset[str]
    icd10_group: str


@dataclass(frozen=True, slots=True)
class Coverage:
    """Covered and excluded uses; ``drugs`` is every drug id they may name (catalogue + external)."""

    groups: Mapping[str, tuple[str, ...]]
    uses: Mapping[str, CoverageUse]
    excluded: Mapping[str, ExcludedUse]
    drugs: frozenset[str]

    def in_group(self, code: str, group: str) -> bool:
        return icd10_matches(code, self.groups[group])


def icd10_matches(code: str, patterns: tuple[str, ...]) -> bool:
    """True if ``code`` equals a pattern or starts with a pattern ending in ``*``."""
    return any(code.startswith(p[:-1]) if p.endswith("*") else code == p for p in patterns)


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Every table as in effect on ``on``; unchanged for any date in ``[valid_from, valid_until)``."""

    on: date
    version: str
    valid_from: date
    valid_until: date | None
    codes: Mapping[str, CodeInfo]
    drugs: Mapping[str, DrugBilling]
    profiles: Mapping[str, PayerProfile]
    fees: Mapping[str, FeeEntry]
    conversion_factor_usd_per_rvu: float
    mue: Mapping[str, MueLimit]
    ptp: tuple[PtpEdit, ...]
    coverage: Coverage

    def covers(self, day: date) -> bool:
        """True if the tables in effect on ``day`` are exactly these."""
        return self.valid_from <= day and (self.valid_until is None or day < self.valid_until)

    def code(self, code: str) -> CodeInfo:
        """Look a code up.

        Raises:
            BillingDataError: ``code`` is not in ``codes.toml`` on this date.
        """
        try:
            return self.codes[code]
        except KeyError:
            raise BillingDataError(f"unknown code {code} on {self.on}", file="codes.toml", entry=code) from None

    def profile(self, profile_id: str) -> PayerProfile:
        """Look a payer profile up.

        Raises:
            BillingDataError: no such profile in effect (the message lists the known ones).
        """
        try:
            return self.profiles[profile_id]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise BillingDataError(
                f"no payer profile {profile_id!r} in effect on {self.on} (known: {known})",
                file="profiles.toml",
                entry=profile_id,
            ) from None

    def drug(self, drug_id: str) -> DrugBilling:
        """Look a catalogue drug's billing up.

        Raises:
            BillingDataError: the drug was not in the catalogue the reference was loaded with.
        """
        try:
            return self.drugs[drug_id]
        except KeyError:
            raise BillingDataError(f"drug {drug_id!r} has no billing entry", file="codes.toml", entry=drug_id) from None
