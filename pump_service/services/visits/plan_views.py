"""A refill plan as clients see it before anything is stored: the form's live figures and findings."""

from pump_service.domain.findings import Finding
from pump_service.domain.refill_plan import RefillPlan
from pump_service.services.contracts import FindingResult, PlannedComponentResult, RefillPlanView
from pump_service.services.visits.refill_views import daily_dose_text

__all__ = ["finding_result", "plan_view"]


def finding_result(finding: Finding) -> FindingResult:
    return FindingResult.model_validate(finding.as_dict())


def plan_view(plan: RefillPlan) -> RefillPlanView:
    assessment = plan.assessment
    return RefillPlanView(
        pump_serial=plan.pump_serial,
        performed_at=plan.request.performed_at,
        committable=not plan.unresolved,
        unresolved=tuple(f.code for f in plan.unresolved),
        findings=tuple(finding_result(f) for f in plan.findings),
        expected_residual_ml=assessment.expected_residual_ml if assessment else None,
        measured_rate_ml_per_day=assessment.measured_rate_ml_per_day if assessment else None,
        deviation_pct=assessment.deviation_pct if assessment else None,
        flow_class=assessment.flow_class.value if assessment else None,
        planning_rate_ml_per_day=plan.rate.rate_ml_per_day,
        planning_rate_source=plan.rate.source.value,
        dosing_rate_ml_per_day=plan.rate.dosing_rate_ml_per_day,
        components=tuple(
            PlannedComponentResult(
                drug_id=c.drug.drug_id,
                drug_name=c.drug.name,
                volume_ml=c.volume_ml,
                amount=c.amount,
                concentration=c.concentration,
                daily_dose=daily_dose_text(c.drug, c.daily_amount),
                max_daily_dose=daily_dose_text(c.drug, c.max_daily_amount),
            )
            for c in plan.components
        ),
        alarm_at=plan.forecast.low_reservoir_at,
        empty_at=plan.forecast.empty_at,
        next_due_at=plan.due.due_at,
        next_due_reason=plan.due.reason.value,
    )
