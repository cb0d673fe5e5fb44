"""Reading ``coverage.toml``: ICD-10-CM groups, covered uses and excluded uses for the R17 pre-check.

Every name is checked: routes against :class:`~schemas.pump.DeliveryRoute`, drugs against the
catalogue plus the file's ``[external_drugs]``, groups against ``[icd10_groups]``, documentation
items against :class:`~pump_service.billing.facts.Documentation`, ICD-10 patterns against the
ICD-10-CM shape (``*`` marks a prefix).
"""

import re
from datetime import date
from pathlib import Path

from pump_service.billing.facts import Documentation, normalise_icd10
from pump_service.billing.reference import Coverage, CoverageUse, ExcludedUse
from pump_service.billing.tables import Entry, read_toml
from schemas.pump import DeliveryRoute

__all__ = ["read_coverage"]


def read_coverage(path: Path, on: date, *, known_drugs: set[str]) -> tuple[Coverage, date]:
    """Parse the coverage file and return it with its effective-from date.

    Raises:
        BillingDataError: the file is missing or malformed, not yet in effect on ``on``, or names
            an unknown route, drug, group or documentation item.
    """
    file = path.name
    top = Entry(read_toml(path), file=file, entry="(top level)")
    meta = Entry(top.table("meta"), file=file, entry="meta")
    meta.text("version")
    start = meta.day("effective_from")
    meta.done()
    if on < start:
        raise meta.error(f"not in effect on {on} (effective from {start})")

    external = top.table("external_drugs", {})
    drugs = frozenset(known_drugs | set(external))
    groups: dict[str, tuple[str, ...]] = {}
    raw_groups = Entry(top.table("icd10_groups"), file=file, entry="icd10_groups")
    for name in list(top.table("icd10_groups")):
        patterns = raw_groups.texts(name)
        for pattern in patterns:
            _check_pattern(pattern, raw_groups, name)
        groups[name] = patterns
    raw_groups.done()

    uses = {}
    for use_id, raw in top.table("uses").items():
        entry = Entry(raw, file=file, entry=f"uses.{use_id}")
        uses[use_id] = CoverageUse(
            use_id=use_id,
            description=entry.text("description"),
            routes=frozenset(_routes(entry)),
            drugs=frozenset(_names(entry, "drugs", drugs, "drug")),
            dx_rules=_dx_rules(entry, "dx_rules", groups),
            regional_dx_rules=_dx_rules(entry, "regional_dx_rules", groups),
            documentation=tuple(_documentation(entry)),
        )
        entry.done()

    excluded = {}
    for use_id, raw in top.table("excluded_uses").items():
        entry = Entry(raw, file=file, entry=f"excluded_uses.{use_id}")
        group = entry.text("icd10_group")
        if group not in groups:
            raise entry.error(f"unknown ICD-10 group {group!r}")
        excluded[use_id] = ExcludedUse(
            use_id=use_id,
            description=entry.text("description"),
            drugs=frozenset(_names(entry, "drugs", drugs, "drug")),
            icd10_group=group,
        )
        entry.done()
    top.done()
    return Coverage(groups=groups, uses=uses, excluded=excluded, drugs=drugs), start


def _check_pattern(pattern: str, entry: Entry, group: str) -> None:
    if pattern.endswith("*"):
        if not re.fullmatch(r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,3})?", pattern[:-1]):
            raise entry.error(f"{group}: malformed ICD-10-CM prefix {pattern!r}")
        return
    try:
        normalised = normalise_icd10(pattern)
    except ValueError as exc:
        raise entry.error(f"{group}: {exc}") from None
    if normalised != pattern:
        raise entry.error(f"{group}: write {pattern!r} as {normalised!r}")


def _routes(entry: Entry) -> list[DeliveryRoute]:
    values = entry.texts("routes")
    unknown = [v for v in values if v not in set(DeliveryRoute)]
    if unknown:
        raise entry.error(f"unknown route {unknown[0]!r}")
    return [DeliveryRoute(v) for v in values]


def _names(entry: Entry, key: str, known: frozenset[str], what: str) -> list[str]:
    values = list(entry.texts(key))
    unknown = [v for v in values if v not in known]
    if unknown:
        raise entry.error(f"unknown {what} {unknown[0]!r} (neither in the catalogue nor in [external_drugs])")
    return values


def _dx_rules(entry: Entry, key: str, groups: dict[str, tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    raw = entry.value(key, (), list, "a list of lists of group names")
    rules = []
    for alternative in raw:
        if not isinstance(alternative, list) or not all(isinstance(g, str) for g in alternative) or not alternative:
            raise entry.error(f"{key} must be a list of non-empty lists of group names")
        unknown = [g for g in alternative if g not in groups]
        if unknown:
            raise entry.error(f"{key}: unknown ICD-10 group {unknown[0]!r}")
        rules.append(tuple(alternative))
    return tuple(rules)


def _documentation(entry: Entry) -> list[Documentation]:
    values = entry.texts("documentation")
    unknown = [v for v in values if v not in set(Documentation)]
    if unknown:
        raise entry.error(f"unknown documentation item {unknown[0]!r}")
    return [Documentation(v) for v in values]
