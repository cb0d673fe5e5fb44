"""What a visit found, in three tiers: information, warnings to show, and hard stops.

A hard stop means the visit cannot be committed and nothing may be written to the pump until an
authorised clinician (a physician or a qualified clinician) overrides it with a reason. The
override names the hard stops it covers, so an override given for one finding never waves
through another that appears on a retry. Some hard stops no override can clear: a spinal fill
without a matching second-person check (``second_check_missing``) waits for that check, whoever
signs. Every finding has a stable code, a sentence for the nurse, and the figures behind it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from pump_service.errors import ServiceError

__all__ = [
    "NOT_OVERRIDABLE",
    "Finding",
    "FindingCode",
    "HardStopError",
    "Override",
    "OverrideRole",
    "Tier",
    "unresolved_hard_stops",
]


class Tier(StrEnum):
    INFO = "info"
    WARNING = "warning"
    HARD_STOP = "hard_stop"


class OverrideRole(StrEnum):
    """The roles older refill records name for their overriding clinician (kept to read them)."""

    PHYSICIAN = "physician"
    QUALIFIED_CLINICIAN = "qualified_clinician"


class FindingCode(StrEnum):
    """Stable codes; clients and stored visits use these values, never the messages."""

    # information
    FIRST_FILL = "first_fill"
    STABILITY_CAP = "stability_cap"
    PLANNED_AT_MEASURED_FLOW = "planned_at_measured_flow"
    # warnings
    FLOW_DEVIATION = "flow_deviation"
    FLOW_ALERT = "flow_alert"
    NOTHING_ASPIRATED = "nothing_aspirated"
    VOLUME_DISCREPANCY_WARNING = "volume_discrepancy_warning"
    POCKET_FILL_WARNING = "pocket_fill_warning"
    DOSE_BELOW_GUARD = "dose_below_guard"
    DOSE_ABOVE_USUAL = "dose_above_usual"
    REFILL_INTERVAL_LONG = "refill_interval_long"
    PROGRAMMER_REGISTER = "programmer_register"
    DEVICE = "device"
    BILLING = "billing"
    # hard stops
    IMPLAUSIBLE_FLOW = "implausible_flow"
    DOSE_ABOVE_LABEL_MAX = "dose_above_label_max"
    DOSE_UNJUDGEABLE = "dose_unjudgeable"
    POCKET_FILL_SUSPECTED = "pocket_fill_suspected"
    VOLUME_DISCREPANCY = "volume_discrepancy"
    NEEDLE_PLACEMENT_UNCONFIRMED = "needle_placement_unconfirmed"
    DRUG_EXPIRED = "drug_expired"
    DRUG_ROUTE = "drug_route"
    REFILL_INTERVAL_SHORT = "refill_interval_short"
    SECOND_CHECK_MISSING = "second_check_missing"


# A second person's check cannot be replaced by anyone's override: it is the check itself.
NOT_OVERRIDABLE = frozenset({FindingCode.SECOND_CHECK_MISSING})


Figures = Mapping[str, float | str | None]


@dataclass(frozen=True, slots=True)
class Finding:
    code: FindingCode
    tier: Tier
    message: str
    figures: Figures = field(default_factory=lambda: MappingProxyType({}))
    field: str | None = None  # the request field it is about, if one

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code.value,
            "tier": self.tier.value,
            "message": self.message,
            "figures": dict(self.figures),
            "field": self.field,
        }


@dataclass(frozen=True, slots=True)
class Override:
    """A clinician's decision to go ahead despite the named hard stops.

    ``clinician_id`` is the signed-in account that decided (the acting physician, or the
    physician who co-signed on the station with their own password), ``role`` that account's
    role; ``cosignature_id`` names the co-signature it came from, if one.
    """

    clinician_id: str
    role: str
    reason: str
    codes: frozenset[FindingCode]
    cosignature_id: int | None = None
    signed_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "clinician_id": self.clinician_id,
            "role": str(self.role),
            "reason": self.reason,
            "codes": sorted(c.value for c in self.codes),
            "cosignature_id": self.cosignature_id,
            "signed_at": self.signed_at.isoformat() if self.signed_at is not None else None,
        }


def unresolved_hard_stops(findings: Iterable[Finding], override: Override | None) -> tuple[Finding, ...]:
    """The hard stops the override does not cover (all of them without an override)."""
    covered = (override.codes if override is not None else frozenset()) - NOT_OVERRIDABLE
    return tuple(f for f in findings if f.tier is Tier.HARD_STOP and f.code not in covered)


class HardStopError(ServiceError):
    """The visit met hard stops no override covers: nothing was written to the pump or stored (HTTP 422).

    ``unresolved`` are the hard stops to override; ``findings`` all the visit's findings, for the nurse.
    """

    def __init__(self, unresolved: tuple[Finding, ...], findings: tuple[Finding, ...]) -> None:
        codes = ", ".join(f.code.value for f in unresolved)
        overridable = [f for f in unresolved if f.code not in NOT_OVERRIDABLE]
        remedy = (
            "A physician may override it with a reason naming these codes"
            if overridable
            else "A second person must confirm the drug, concentration and volume first"
        )
        super().__init__(f"hard stop ({codes}): {unresolved[0].message}; nothing was written. {remedy}")
        self.unresolved = unresolved
        self.findings = findings
