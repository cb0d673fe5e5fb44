"""R17 coverage pre-check: warnings, never lines, when a visit looks outside the payer's covered uses.

For each therapeutic drug of the visit (patency and diluent uses are pump maintenance, not a use):

* an excluded use (heparin for thromboembolism, insulin for diabetes), also flagged when the first
  diagnosis falls in the excluded use's ICD-10 group;
* a route/drug pair missing from the profile's labelled pairs (TRICARE: second-level review);
* no covered use of the profile for the route and drug, a use not yet covered on the service date,
  diagnoses that do not satisfy the use's ICD-10 rules (HAI: C22.x, or C78.7 with a listed
  primary), missing documentation (trial, life expectancy, unresectable...), or a use the payer
  reviews by prior authorisation.
"""

from pump_service.billing.charges import BillingWarning
from pump_service.billing.facts import DrugPurpose, VisitFacts
from pump_service.billing.reference import Coverage, CoverageUse, PayerProfile, ReferenceData

__all__ = ["coverage_warnings"]


def coverage_warnings(facts: VisitFacts, reference: ReferenceData, profile: PayerProfile) -> list[BillingWarning]:
    """Coverage warnings for the visit under ``profile``, in a stable order."""
    coverage = reference.coverage
    warnings: list[BillingWarning] = []

    def warn(code: str, message: str) -> None:
        warnings.append(
            BillingWarning(
                rule="R17",
                code=code,
                message=f"R17 ({profile.profile_id}, {profile.source}): {message}",
                profile=profile.profile_id,
                profile_source=profile.source,
            )
        )

    drug_ids = list(dict.fromkeys(d.drug_id for d in facts.drugs if d.purpose is DrugPurpose.THERAPEUTIC))
    route = facts.route.value
    excluded_drugs: set[str] = set()
    for use_id in profile.excluded_uses:
        excluded = coverage.excluded[use_id]
        by_drug = [d for d in drug_ids if d in excluded.drugs]
        by_dx = bool(facts.diagnoses) and coverage.in_group(facts.diagnoses[0], excluded.icd10_group)
        if by_drug or by_dx:
            excluded_drugs.update(by_drug)
            trigger = f"drug {by_drug[0]}" if by_drug else f"first diagnosis {facts.diagnoses[0]}"
            warn("excluded_use", f"{excluded.description} is excluded by {profile.name} ({trigger})")

    for drug_id in drug_ids:
        if profile.label_pairs and (facts.route, drug_id) not in profile.label_pairs:
            warn(
                "label_pair",
                f"{drug_id} by the {route} route is not a labelled drug/route pair for {profile.name}: "
                "second-level review",
            )
        uses = [
            coverage.uses[u]
            for u in profile.covered_uses
            if facts.route in coverage.uses[u].routes and drug_id in coverage.uses[u].drugs
        ]
        if not uses:
            if drug_id not in excluded_drugs:
                warn(
                    "no_covered_use",
                    f"{drug_id} by the {route} route is not among the uses {profile.name} covers: "
                    "check coverage (prior authorisation or contractor review)",
                )
            continue
        use = uses[0]
        start = profile.covered_from.get(use.use_id)
        if start is not None and facts.service_date < start:
            warn("not_yet_covered", f"{use.description} is covered by {profile.name} only from {start}")
        if not _dx_supports(use, facts.diagnoses, coverage, regional=profile.regional_dx):
            warn(
                "dx_not_supporting",
                f"the diagnoses ({', '.join(facts.diagnoses) or 'none'}) do not support {use.description}; "
                f"expected {_describe_rules(use, regional=profile.regional_dx)}",
            )
        missing = [item.value for item in use.documentation if item not in facts.documentation]
        if missing:
            warn("documentation_missing", f"{use.description} needs documentation of: {', '.join(missing)}")
        if use.use_id in profile.prior_auth_uses:
            warn("prior_auth", f"{profile.name} reviews {use.description} by prior authorisation")
    return warnings


def _dx_supports(use: CoverageUse, diagnoses: tuple[str, ...], coverage: Coverage, *, regional: bool) -> bool:
    rules = use.dx_rules + (use.regional_dx_rules if regional else ())
    if not rules:
        return True
    return any(all(any(coverage.in_group(dx, group) for dx in diagnoses) for group in rule) for rule in rules)


def _describe_rules(use: CoverageUse, *, regional: bool) -> str:
    rules = use.dx_rules + (use.regional_dx_rules if regional else ())
    return " or ".join(" with ".join(rule) for rule in rules)
