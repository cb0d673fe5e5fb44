"""The dose guards: what a pump holding these drugs delivers at its planning rate, against the label.

Used by the refill plan (the fill's components) and by a reprogramming (what the pump already
holds, at the new prescription's rate), so both judge a dose the same way.
"""

from collections.abc import Sequence

from pump_service.domain.findings import Finding, FindingCode, Tier
from pump_service.domain.planning_rate import PlanningRate
from pump_service.domain.refill_inputs import PlannedComponent
from schemas.drug import DoseBasis

__all__ = ["judge_doses"]


def judge_doses(
    components: Sequence[PlannedComponent], rate: PlanningRate, body_mass: float | None
) -> tuple[Finding, ...]:
    """The dose guards' findings for what a pump holds at ``rate`` (a refill's plan, a reprogramming).

    The most the pump can deliver (the planning rate, boluses included) is judged against the
    label maximum (a hard stop) and the usual ceiling (a warning); the basal dose against the
    guard's minimum (a warning). A per-kg guard without the patient's body mass cannot be judged:
    a hard stop, never a guess.
    """
    findings: list[Finding] = []
    for planned in components:
        guard = planned.drug.dose_guard
        if guard is None or planned.max_daily_amount is None or planned.daily_amount is None:
            continue
        name, field_name = planned.drug.name, f"components.{planned.index}"
        per_kg = guard.basis is DoseBasis.MG_PER_KG_PER_DAY
        if per_kg and body_mass is None:
            findings.append(
                Finding(
                    FindingCode.DOSE_UNJUDGEABLE,
                    Tier.HARD_STOP,
                    f"{name}: the guard is {guard.minimum:g}-{guard.maximum:g} {guard.basis.value} but the patient's "
                    "body mass is unknown, so the dose cannot be judged",
                    {"daily_amount": planned.daily_amount},
                    field_name,
                )
            )
            continue
        scale = body_mass if per_kg and body_mass else 1.0
        most, usual = planned.max_daily_amount / scale, planned.daily_amount / scale
        figures = {
            "dose": round(most, 6),
            "unit": guard.basis.value,
            "guard_min": guard.minimum,
            "guard_max": guard.maximum,
            "planning_rate_ml_per_day": round(rate.rate_ml_per_day, 4),
        }
        if most > guard.maximum * (1 + 1e-9):
            findings.append(
                Finding(
                    FindingCode.DOSE_ABOVE_LABEL_MAX,
                    Tier.HARD_STOP,
                    f"{name}: {most:.4g} {guard.basis.value} at the planning rate is above the label maximum "
                    f"{guard.maximum:g} {guard.basis.value} ({guard.source})",
                    figures,
                    field_name,
                )
            )
        elif (warn := guard.warn_above) is not None and most > warn * (1 + 1e-9):
            findings.append(
                Finding(
                    FindingCode.DOSE_ABOVE_USUAL,
                    Tier.WARNING,
                    f"{name}: {most:.4g} {guard.basis.value} is above the usual {warn:g} {guard.basis.value}",
                    figures,
                    field_name,
                )
            )
        if usual < guard.minimum * (1 - 1e-9):
            findings.append(
                Finding(
                    FindingCode.DOSE_BELOW_GUARD,
                    Tier.WARNING,
                    f"{name}: {usual:.4g} {guard.basis.value} is below the guard minimum {guard.minimum:g} "
                    f"{guard.basis.value}",
                    figures,
                    field_name,
                )
            )
    return tuple(findings)
