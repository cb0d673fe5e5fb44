"""A clinic's own billing set-up on top of the packaged reference data.

A clinic may add payer profiles (in exactly the schema of the packaged ``profiles.toml``, checked
by the same parser and the same cross-reference checks), name its default profile and place of
service, and its Medicare A/B MAC jurisdiction. The packaged data stays the default: a clinic
profile may not reuse a packaged profile's id, so ``medicare`` always means the packaged one.

The contractor-specific ("regional") ICD-10 rules of ``coverage.toml`` (Palmetto GBA's HAI list:
GIST C49.A*, D01.7) are published for jurisdictions J and M only, so a clinic profile may set
``regional_dx = true`` only when the clinic's jurisdiction is JJ or JM.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pump_service.billing.errors import BillingDataError
from pump_service.billing.loader import check_profile, profile_rows
from pump_service.billing.reference import ReferenceData
from pump_service.billing.tables import select_in_effect
from pump_service.domain.jurisdictions import MAC_JURISDICTIONS

__all__ = ["JURISDICTIONS", "REGIONAL_DX_JURISDICTIONS", "ClinicBillingConfig", "with_clinic_profiles"]

# Medicare Part A/B MAC jurisdictions: the one list, kept with its source in the domain.
JURISDICTIONS = frozenset(MAC_JURISDICTIONS)
# Palmetto GBA (JJ, JM) publishes the regional HAI diagnosis list of coverage.toml's regional_dx_rules.
REGIONAL_DX_JURISDICTIONS = frozenset({"JJ", "JM"})
_DATE_KEYS = ("effective_from", "effective_to")


@dataclass(frozen=True, slots=True)
class ClinicBillingConfig:
    """One version of a clinic's billing set-up, as stored (profiles as JSON-ready mappings)."""

    clinic: str
    version: int
    effective_from: date
    jurisdiction: str | None
    place_of_service: str | None
    payer_profile: str | None
    profiles: Mapping[str, Mapping[str, Any]]

    @property
    def source(self) -> str:
        return f"clinic {self.clinic} billing v{self.version}"


def with_clinic_profiles(reference: ReferenceData, config: ClinicBillingConfig, *, on: date) -> ReferenceData:
    """``reference`` with the clinic's profiles in effect on ``on`` (the service date) added, validated.

    Raises:
        BillingDataError: an unknown jurisdiction, a profile id that repeats a packaged one, a
            profile that does not follow the ``profiles.toml`` schema or names unknown codes or
            uses, ``regional_dx`` outside jurisdictions J and M, or a default profile that does
            not exist; ``entry`` names the offending item.
    """
    file = config.source
    if config.jurisdiction is not None and config.jurisdiction not in JURISDICTIONS:
        known = ", ".join(sorted(JURISDICTIONS))
        raise BillingDataError(
            f"unknown jurisdiction {config.jurisdiction!r} (one of {known})", file=file, entry="jurisdiction"
        )
    document = {
        "meta": {"version": str(config.version), "effective_from": config.effective_from},
        "profiles": {pid: _dated(raw) for pid, raw in config.profiles.items()},
    }
    rows = profile_rows(document, file=file, source=config.source)
    profiles = select_in_effect(rows, on, file=file)
    for profile_id in config.profiles:
        if profile_id in reference.profiles:
            raise BillingDataError(
                f"profile {profile_id!r} is a packaged profile: give the clinic's own profile another id",
                file=file,
                entry=f"profiles.{profile_id}",
            )
    for profile in profiles.values():
        check_profile(profile, reference.codes, reference.coverage, file)
        if profile.regional_dx and config.jurisdiction not in REGIONAL_DX_JURISDICTIONS:
            raise BillingDataError(
                f"regional_dx applies only in jurisdictions JJ and JM (the clinic's is {config.jurisdiction})",
                file=file,
                entry=f"profiles.{profile.profile_id}.regional_dx",
            )
    merged = {**reference.profiles, **profiles}
    if config.payer_profile is not None and config.payer_profile not in merged:
        raise BillingDataError(
            f"default payer profile {config.payer_profile!r} is neither packaged nor the clinic's "
            f"(known: {', '.join(sorted(merged))})",
            file=file,
            entry="payer_profile",
        )
    return dataclasses.replace(
        reference, profiles=merged, version=f"{reference.version}+{config.clinic}.v{config.version}"
    )


def _dated(raw: Mapping[str, Any]) -> dict[str, Any]:
    """JSON carries dates as strings: turn the date keys back into dates for the TOML parser."""
    out = dict(raw)
    for key in _DATE_KEYS:
        if isinstance(out.get(key), str):
            out[key] = _day(out[key])
    if isinstance(out.get("covered_from"), Mapping):
        out["covered_from"] = {k: _day(v) if isinstance(v, str) else v for k, v in out["covered_from"].items()}
    return out


def _day(value: str) -> date | str:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return value  # left for the parser to refuse with the file and entry
