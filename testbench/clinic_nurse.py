"""What the bench's nurse (and, when asked, its physician) does at a refill visit.

The nurse aspirates the residual and reads it off the syringe (rounded to its graduation),
enters the visit, and the service decides: it interrogates a programmable pump through the real
driver over the simulated programmer, judges the return, and records the refill with its
charges. Only after the service recorded it does the nurse inject the new fill (a real nurse
does not fill a pump the service refused).

On a hard stop the bench's physician overrides it with a reason when every unresolved stop is
one an override may clear, as a clinic would once the discrepancy is reviewed (the visit is then
recorded with the override); a stop no override clears records nothing and the residual is put
back. A visit the programmer link broke off is retried with the same idempotency key (the
service reconciles a write that landed) up to ``max_attempts`` times.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from pump_service.domain.findings import NOT_OVERRIDABLE, HardStopError
from pump_service.errors import DeviceError
from pump_service.services.contracts import RefillEntry, RefillResult
from pump_service.services.visits.cosignature_contracts import SecondCheckCosignRequest
from pump_service.services.visits.cosignatures import sign_cosignature
from pump_service.services.visits.refill_visit import complete_visit
from schemas.pump import PumpFamily
from simulators.constant_flow import SimulatedConstantFlowPump
from simulators.programmable import SimulatedProgrammablePump
from testbench.clinic_population import PatientPlan
from testbench.clinic_service import ClinicService, second_nurse

__all__ = [
    "SYRINGE_RESOLUTION_ML",
    "SimulatedPump",
    "VisitOutcome",
    "VisitStatus",
    "fill_volume_ml",
    "perform_visit",
    "second_check_request",
    "visit_entry",
]

# The syringe's graduation the residual is read to, per family (a 30 mL and a 20 mL syringe).
SYRINGE_RESOLUTION_ML = {PumpFamily.CONSTANT_FLOW: 0.2, PumpFamily.PROGRAMMABLE: 0.1}
BACLOFEN_MG_PER_ML = 2.0
OVERRIDE_REASON = "bench physician: discrepancy reviewed at the visit; refilled to keep the patient supplied"

SimulatedPump = SimulatedConstantFlowPump | SimulatedProgrammablePump


class VisitStatus(StrEnum):
    RECORDED = "recorded"
    HARD_STOP = "hard_stop"  # a hard stop no override clears: nothing recorded
    LINK_FAILED = "link_failed"  # the programmer link failed on every attempt: nothing recorded


@dataclass(frozen=True, slots=True)
class VisitOutcome:
    status: VisitStatus
    result: RefillResult | None
    finding_codes: tuple[str, ...]  # every finding the service showed, the hard stops included
    hard_stop: bool  # the visit met a hard stop (overridden or not)
    overridden: bool
    attempts: int
    returned_ml: float = 0.0  # what the syringe showed (the service judges this)
    true_residual_ml: float = 0.0  # what the reservoir really held before the aspiration (the truth scores this)
    fill_ml: float = 0.0  # what the nurse injected (0 when nothing was recorded)


def fill_volume_ml(plan: PatientPlan, capacity_ml: float, left_ml: float) -> float:
    """What the nurse fills: the whole millilitres that fit beside what is left in the pump."""
    room = capacity_ml - left_ml
    return float(int(room))  # whole millilitres that fit


def visit_entry(plan: PatientPlan, key: str, at: Any, returned_ml: float, fill_ml: float) -> dict[str, Any]:
    """The nurse's entry for a refill visit of ``plan``'s pump, as a client sends it (a retry resends it as is)."""
    body: dict[str, Any] = {
        "performed_at": at,
        "returned_volume_ml": returned_ml,
        "syringe_resolution_ml": SYRINGE_RESOLUTION_ML[plan.family],
        "fill_volume_ml": fill_ml,
        "idempotency_key": key,
    }
    if plan.family is PumpFamily.PROGRAMMABLE:
        body["components"] = [{"drug_id": "baclofen", "conc_mg_per_ml": BACLOFEN_MG_PER_ML}]
    else:
        body["components"] = [
            {"drug_id": "floxuridine", "dose": {"mg_per_kg_per_day": "0.12 mg/kg/d"}},
            {"drug_id": "saline"},
        ]
    return body


def second_check_request(fill_ml: float) -> SecondCheckCosignRequest:
    """The second nurse's check of an intrathecal baclofen fill of ``fill_ml``, with their password."""
    username, password = second_nurse()
    return SecondCheckCosignRequest(
        kind="second_check",
        username=username,
        password=SecretStr(password),
        drug_id="baclofen",
        concentration=BACLOFEN_MG_PER_ML,
        fill_volume_ml=fill_ml,
    )


def _second_check(service: ClinicService, plan: PatientPlan, fill_ml: float) -> int:
    """The second nurse's check of an intrathecal fill, signed at the station."""
    request = second_check_request(fill_ml)
    view = sign_cosignature(service.engine, plan.serial, request, requester=service.nurse, clock=service.clock)
    return view.cosignature_id


def _put_in(pump: SimulatedPump, volume_ml: float) -> None:
    if volume_ml <= 0:
        return
    if isinstance(pump, SimulatedConstantFlowPump):
        pump.fill(volume_ml)
    else:
        pump.inject(volume_ml)


def perform_visit(
    service: ClinicService, plan: PatientPlan, pump: SimulatedPump, *, key: str, max_attempts: int
) -> VisitOutcome:
    """One refill visit of ``pump`` now (the service's clock), recorded through ``complete_visit``."""
    aspiration = pump.aspirate(resolution_ml=SYRINGE_RESOLUTION_ML[plan.family])
    fill_ml = fill_volume_ml(plan, pump.model.capacity_ml, aspiration.left_in_pump_ml)
    body = visit_entry(plan, key, service.clock.now(), aspiration.measured_ml, fill_ml)
    if plan.family is PumpFamily.PROGRAMMABLE:
        body["cosignatures"] = [_second_check(service, plan, fill_ml)]
    codes: list[str] = []
    actor, hard_stop, overridden, attempts = service.nurse, False, False, 0
    result: RefillResult | None = None
    status = VisitStatus.LINK_FAILED
    while attempts < max_attempts:
        attempts += 1
        try:
            result = complete_visit(
                service.engine,
                plan.serial,
                RefillEntry.model_validate(body),
                settings=service.settings,
                clock=service.clock,
                actor=actor,
                device_url=service.device_url,
            )
        except HardStopError as stop:
            codes.extend(f.code.value for f in stop.findings)
            hard_stop = True
            if overridden or any(f.code in NOT_OVERRIDABLE for f in stop.unresolved):
                status = VisitStatus.HARD_STOP
                break
            body["override"] = {"reason": OVERRIDE_REASON, "codes": [f.code.value for f in stop.unresolved]}
            actor, overridden = service.physician, True
            attempts -= 1  # the override is a decision, not a retry of a broken link
            continue
        except DeviceError:
            continue
        codes.extend(f.code.value for f in result.findings)
        status = VisitStatus.RECORDED
        break
    if status is VisitStatus.RECORDED:
        _put_in(pump, fill_ml)
    else:
        _put_in(pump, aspiration.removed_ml)  # the old fill goes back: nothing was recorded
        result, fill_ml = None, 0.0
    return VisitOutcome(
        status,
        result,
        tuple(dict.fromkeys(codes)),
        hard_stop,
        overridden,
        attempts,
        returned_ml=aspiration.measured_ml,
        true_residual_ml=aspiration.removed_ml + aspiration.left_in_pump_ml,
        fill_ml=fill_ml,
    )
