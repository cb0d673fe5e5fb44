"""The engine's output: one :class:`ChargeEvent` per charge line, grouped in a :class:`ChargeSet`.

The shape follows billing.md §6.3. Events are immutable: a correction is a new event (a void or a
credit, see :mod:`pump_service.billing.corrections`) that points at the original through
``original_event_id``. ``model_dump(mode="json")`` gives the JSON the lead stores and the exports
read.
"""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pump_service.billing.facts import NdcUnit, PerformerRole
from pump_service.billing.reference import CodeSystem
from schemas.clock import UtcDatetime

__all__ = ["BillingWarning", "ChargeEvent", "ChargeSet", "ChargeStatus", "EventKind"]


class ChargeStatus(StrEnum):
    """FHIR ChargeItem status values the service uses."""

    BILLABLE = "billable"
    NOT_BILLABLE = "not-billable"
    ENTERED_IN_ERROR = "entered-in-error"


class EventKind(StrEnum):
    """What an event is.

    ``charge`` comes from the engine; ``void`` marks a charge entered in error before billing;
    ``credit`` reverses a charge after billing.
    """

    CHARGE = "charge"
    VOID = "void"
    CREDIT = "credit"


class BillingWarning(BaseModel):
    """Something a biller should look at that does not change a line (coverage, review holds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str | None
    code: str
    message: str
    profile: str | None = None  # the payer profile a coverage warning was judged under
    profile_source: str | None = None  # where that profile came from (profiles.toml, clinic main v2)


class ChargeEvent(BaseModel):
    """One charge line, or a correction of one.

    ``rule`` names the rule-table row that produced the line (R1...R17); ``status_reason`` says why
    a line is not billable, and which rule decided it. ``expected_allowable_usd`` is the fee
    schedule amount for the line's units (0 for a line that is not billable, None where the
    schedule has no figure or the payer is not priced); ``allowable_basis`` shows the arithmetic.
    ``patient_liability_usd`` is 0 where the patient may not be billed either (bundled supplies).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    kind: EventKind = EventKind.CHARGE
    original_event_id: str | None = None
    original_status: ChargeStatus | None = None
    visit_key: str
    revision: int = 0
    line_number: int = Field(ge=1)
    patient_ref: str
    service_at: UtcDatetime
    service_date: date
    recorded_at: UtcDatetime
    code_system: CodeSystem
    code: str
    descriptor: str
    modifiers: tuple[str, ...] = Field((), max_length=4)
    units: int = Field(ge=0)
    ndc: str | None = None
    ndc_qty: float | None = None
    ndc_unit: NdcUnit | None = None
    diagnoses: tuple[str, ...] = ()
    dx_pointers: tuple[int, ...] = ()
    performer_id: str
    performer_role: PerformerRole
    supervising_id: str | None = None
    place_of_service: str
    payer_profile: str
    rule: str = Field(pattern=r"^R(?:[1-9]|1[0-7])$")
    status: ChargeStatus
    status_reason: str | None = None
    bundled_into: str | None = None
    narrative: str | None = None
    lot: str | None = None
    expected_allowable_usd: float | None = None
    allowable_basis: str | None = None
    patient_liability_usd: float | None = None
    review_required: bool = False


class ChargeSet(BaseModel):
    """All lines of one visit, in line-number order, plus warnings; the engine returns whole sets only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    visit_key: str
    revision: int
    payer_profile: str
    reference_version: str
    lines: tuple[ChargeEvent, ...]
    warnings: tuple[BillingWarning, ...] = ()

    @property
    def billable(self) -> tuple[ChargeEvent, ...]:
        return tuple(line for line in self.lines if line.status is ChargeStatus.BILLABLE)

    def line(self, code: str, *modifiers: str) -> ChargeEvent:
        """The one line with ``code`` (and exactly ``modifiers``, when given).

        Raises:
            LookupError: no such line, or more than one.
        """
        found = [
            line for line in self.lines if line.code == code and (not modifiers or line.modifiers == tuple(modifiers))
        ]
        if len(found) != 1:
            raise LookupError(f"{len(found)} lines with code {code} {'+'.join(modifiers)}".rstrip())
        return found[0]
