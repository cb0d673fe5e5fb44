"""A charge line while the engine is still deciding it; frozen into a ChargeEvent at the end.

Only the engine's rule modules touch drafts. Each rule appends drafts or refuses them; a refusal
keeps the line (status not-billable) with the reason, so the output shows every code considered.
"""

from dataclasses import dataclass, field

from pump_service.billing.charges import ChargeStatus
from pump_service.billing.facts import NdcUnit, PerformerRole
from pump_service.billing.reference import CodeInfo

__all__ = ["Draft"]


@dataclass(slots=True)
class Draft:
    code: CodeInfo
    rule: str
    units: int = 1
    modifiers: list[str] = field(default_factory=list)
    status: ChargeStatus = ChargeStatus.BILLABLE
    reason: str | None = None
    bundled_into: str | None = None
    narrative: str | None = None
    ndc: str | None = None
    ndc_qty: float | None = None
    ndc_unit: NdcUnit | None = None
    lot: str | None = None
    performer_id: str | None = None
    performer_role: PerformerRole | None = None
    patient_liability_usd: float | None = None
    review_required: bool = False

    @property
    def billable(self) -> bool:
        return self.status is ChargeStatus.BILLABLE

    def refuse(
        self, reason: str, *, bundled_into: str | None = None, patient_liability_usd: float | None = None
    ) -> None:
        """Make the line not billable; the first refusal's reason is kept."""
        if not self.billable:
            return
        self.status = ChargeStatus.NOT_BILLABLE
        self.reason = reason
        self.bundled_into = bundled_into
        self.patient_liability_usd = patient_liability_usd

    def add_modifier(self, modifier: str) -> None:
        if modifier not in self.modifiers:
            self.modifiers.append(modifier)
