"""What billing is told about a refill visit: :class:`VisitFacts` built from the stored refill.

The amounts come from the stored :class:`RefillComponent` rows (what the service worked out and
recorded), the billing details from the request (:class:`FillComponentEntry`, :class:`BillingEntry`),
and the defaults from the settings. Defaults, chosen so an entry without billing details bills what
a plain refill is:

* container: heparin comes from multi-dose vials, every other drug from single-dose containers;
* opened amount: what was administered, i.e. no waste (a JW line needs ``opened_mg``/``opened_usp_u``);
* purpose: vehicles (saline, water, glycerin) are diluents, heparin in a pump keeps the catheter
  patent, every other drug is therapeutic; an explicit ``purpose`` in the request wins;
* supplies: a refill always uses a refill kit, so A4220 is listed once, with
  ``billing.refill_kit_lot`` when given (whether it is billable is the payer profile's decision);
* performer: the acting user; place of service and payer profile: the request's, else the pump
  clinic's billing set-up in effect on the service date (:mod:`.clinic_billing`), else the
  station's settings;
* same-day codes: the billable, uncorrected charges already stored for the patient that date.

The reference tables are loaded once per validity window and kept for the life of the process.
"""

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import ValidationError
from sqlmodel import Session, col, select

from pump_service.billing import (
    BillingDataError,
    ChargeStatus,
    ClinicBillingConfig,
    ContainerKind,
    DrugGiven,
    DrugPurpose,
    EventKind,
    ReferenceData,
    SupplyUsed,
    VisitFacts,
    load_reference,
)
from pump_service.errors import RuleViolationError
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.models import Patient, Pump, Refill, RefillComponent
from pump_service.services.actor import Actor
from pump_service.services.contracts import BillingEntry, FillComponentEntry, RefillEntry
from pump_service.services.scheduling.clinics import pump_zone
from pump_service.settings import Settings
from schemas.drug import AmountBasis
from schemas.drug_catalogue import get_drug

__all__ = [
    "REFILL_KIT_CODE",
    "FlushedDrug",
    "ServiceDone",
    "patient_ref_of",
    "reference_for",
    "service_date_of",
    "service_visit_facts",
    "visit_facts",
]

REFILL_KIT_CODE = "A4220"
_MULTI_DOSE_DRUGS = frozenset({"heparin"})
_PATENCY_DRUGS = frozenset({"heparin"})

_references: list[ReferenceData] = []
_references_lock = threading.Lock()


def reference_for(day: date) -> ReferenceData:
    """The reference tables in effect on ``day``, loaded once per validity window.

    Raises:
        BillingDataError: the data files cannot be loaded for that date.
    """
    with _references_lock:
        for reference in _references:
            if reference.covers(day):
                return reference
        try:
            reference = load_reference(on=day)
        except BillingDataError as exc:
            # Say what the station can do: nothing is recorded until that period's tables exist.
            raise BillingDataError(
                f"the billing reference data do not serve {day.isoformat()} ({exc}); nothing was recorded: "
                "add that period's tables under pump_service/billing/data (docs/billing.md)",
                file=exc.file,
                entry=exc.entry,
            ) from exc
        _references.append(reference)
        return reference


def service_date_of(session: Session, pump: Pump, at: datetime, settings: Settings) -> date:
    """The date of service of a visit at ``at``: the day in the pump's clinic's zone."""
    return at.astimezone(pump_zone(session, pump, settings)).date()


def patient_ref_of(session: Session, pump: Pump) -> str | None:
    """The pseudonymous reference of the pump's patient, or None for a pump with no patient."""
    if pump.patient_id is None:
        return None
    patient = session.get(Patient, pump.patient_id)
    return patient.patient_ref if patient is not None else None


def visit_facts(
    session: Session,
    *,
    visit_key: str,
    patient_ref: str,
    refill: Refill,
    pump: Pump,
    entry: RefillEntry,
    settings: Settings,
    actor: Actor,
    prescription_changed: bool,
    analysis_done: bool,
    components: Sequence[RefillComponent] | None = None,
    clinic_billing: ClinicBillingConfig | None = None,
) -> VisitFacts:
    """The facts of the refill visit ``visit_key``, with the defaults listed in the module docstring.

    ``components`` are the refill's component rows when they are not stored yet (a pre-check
    before the pump is written); otherwise they are read for ``refill``.

    Raises:
        RuleViolationError: a fact billing refuses (a malformed NDC or diagnosis, an opened amount
            below the administered one, an analysis of a constant-flow pump...); ``field`` points
            at the request field (``components.1.ndc``, ``billing.diagnoses``).
    """
    if components is not None:  # a refill being planned: its rows are not stored yet
        rows: Sequence[RefillComponent] = components
    else:
        rows = session.exec(
            select(RefillComponent).where(RefillComponent.refill_id == refill.id).order_by(col(RefillComponent.id))
        ).all()
    service_date = service_date_of(session, pump, refill.performed_at, settings)
    billing = entry.billing
    clinic_pos = clinic_billing.place_of_service if clinic_billing else None
    clinic_profile = clinic_billing.payer_profile if clinic_billing else None
    fields = {
        "visit_key": visit_key,
        "service_at": refill.performed_at,
        "service_date": service_date,
        "patient_ref": patient_ref,
        "route": pump.route,
        "pump_family": pump.family,
        "refilled": True,
        "analysis_done": analysis_done,
        "prescription_changed": prescription_changed,
        "performer_role": billing.performer_role,
        "performer_id": billing.performer_id or actor.user,
        "supervising_id": billing.supervising_id,
        "place_of_service": billing.place_of_service or clinic_pos or settings.place_of_service,
        "payer_profile": billing.payer_profile or clinic_profile or settings.payer_profile,
        "chemo_cycle_initiated_today": billing.chemo_cycle_initiated_today,
        "port_flush_only": billing.port_flush_only,
        "separate_em": billing.separate_em,
        "imaging_guidance": billing.imaging_guidance,
        "distinct_service_documented": billing.distinct_service_documented,
        "drugs": _drugs(entry.components, rows),
        "supplies": (SupplyUsed(code=REFILL_KIT_CODE, lot=billing.refill_kit_lot),),
        "diagnoses": billing.diagnoses,
        "documentation": billing.documentation,
        "same_day_codes": _same_day_codes(session, patient_ref, service_date, visit_key),
    }
    try:
        return VisitFacts.model_validate(fields)
    except ValidationError as exc:
        raise _rule_violation(exc, "billing") from exc


@dataclass(frozen=True, slots=True)
class FlushedDrug:
    """One agent of a flush: a vehicle by volume, or heparin by its USP units."""

    drug_id: str
    volume_ml: float
    amount_usp_u: float | None
    ndc: str | None
    lot: str | None


@dataclass(frozen=True, slots=True)
class ServiceDone:
    """What a visit without a refill did, in billing's terms."""

    analysis_done: bool = False
    prescription_changed: bool = False
    port_flush_only: bool = False
    flushed: tuple[FlushedDrug, ...] = ()


def service_visit_facts(
    session: Session,
    *,
    visit_key: str,
    pump: Pump,
    performed_at: datetime,
    billing: BillingEntry,
    done: ServiceDone,
    settings: Settings,
    actor: Actor,
    clinic_billing: ClinicBillingConfig | None = None,
) -> VisitFacts | None:
    """The facts of a visit without a refill (analysis, reprogramming, flush); None without a patient.

    Defaults as for refills: the request, then the clinic's billing set-up, then the settings.

    Nothing was put into the pump, so there is no refill kit; a flush lists what it injected, as
    patency or diluent use (pump maintenance, billing.md R11).

    Raises:
        RuleViolationError: a fact billing refuses (``field`` names the request field).
    """
    patient_ref = patient_ref_of(session, pump)
    if patient_ref is None:
        return None
    service_date = service_date_of(session, pump, performed_at, settings)
    fields = {
        "visit_key": visit_key,
        "service_at": performed_at,
        "service_date": service_date,
        "patient_ref": patient_ref,
        "route": pump.route,
        "pump_family": pump.family,
        "refilled": False,
        "analysis_done": done.analysis_done,
        "prescription_changed": done.prescription_changed,
        "performer_role": billing.performer_role,
        "performer_id": billing.performer_id or actor.user,
        "supervising_id": billing.supervising_id,
        "place_of_service": billing.place_of_service
        or (clinic_billing.place_of_service if clinic_billing else None)
        or settings.place_of_service,
        "payer_profile": billing.payer_profile
        or (clinic_billing.payer_profile if clinic_billing else None)
        or settings.payer_profile,
        "port_flush_only": done.port_flush_only,
        "separate_em": billing.separate_em,
        "imaging_guidance": billing.imaging_guidance,
        "distinct_service_documented": billing.distinct_service_documented,
        "drugs": tuple(_flushed_given(i, d) for i, d in enumerate(done.flushed)),
        "diagnoses": billing.diagnoses,
        "documentation": billing.documentation,
        "same_day_codes": _same_day_codes(session, patient_ref, service_date, visit_key),
    }
    try:
        return VisitFacts.model_validate(fields)
    except ValidationError as exc:
        raise _rule_violation(exc, "billing") from exc


def _flushed_given(index: int, flushed: FlushedDrug) -> DrugGiven:
    drug = get_drug(flushed.drug_id)
    if drug.amount_basis is AmountBasis.ACTIVITY:
        amounts: dict[str, float | None] = {"administered_usp_u": flushed.amount_usp_u}
        container, purpose = ContainerKind.MULTI, DrugPurpose.PATENCY
    else:
        amounts = {"administered_ml": flushed.volume_ml, "opened_ml": flushed.volume_ml}
        container, purpose = ContainerKind.SINGLE, DrugPurpose.PATENCY
    try:
        return DrugGiven.model_validate(
            {
                "drug_id": drug.drug_id,
                "ndc": flushed.ndc,
                **amounts,
                "container": container,
                "purpose": purpose,
                "lot": flushed.lot,
            }
        )
    except ValidationError as exc:
        raise _rule_violation(exc, f"injected.{index}") from exc


def _drugs(entries: Sequence[FillComponentEntry], rows: Sequence[RefillComponent]) -> tuple[DrugGiven, ...]:
    # refills.py stores the drugs before the vehicles, each group in request order, so the n-th
    # request component of a drug is the n-th stored row of that drug.
    unused = list(rows)
    drugs = []
    for index, component in enumerate(entries):
        row = next((r for r in unused if r.drug_id == component.drug_id), None)
        if row is None:
            continue
        unused.remove(row)
        given = _drug_given(index, component, row)
        if given is not None:
            drugs.append(given)
    return tuple(drugs)


def _drug_given(index: int, component: FillComponentEntry, row: RefillComponent) -> DrugGiven | None:
    drug = get_drug(component.drug_id)
    # An opened amount in the other unit is passed on as given, for DrugGiven to refuse.
    amounts: dict[str, float | None] = {"opened_mg": component.opened_mg, "opened_usp_u": component.opened_usp_u}
    if drug.amount_basis is AmountBasis.MASS:
        administered = row.amount_mg
        amounts |= {"administered_mg": administered, "opened_mg": component.opened_mg or administered}
    elif drug.amount_basis is AmountBasis.ACTIVITY:
        administered = row.amount_usp_u
        amounts |= {"administered_usp_u": administered, "opened_usp_u": component.opened_usp_u or administered}
    else:
        administered = row.volume_ml
        amounts |= {"administered_ml": administered, "opened_ml": administered}
    if administered is None or administered <= 0:
        return None  # nothing of it went into the pump: nothing to bill
    if "purpose" in component.model_fields_set:
        purpose = component.purpose
    elif drug.amount_basis is AmountBasis.VEHICLE:
        purpose = DrugPurpose.DILUENT
    else:
        purpose = DrugPurpose.PATENCY if drug.drug_id in _PATENCY_DRUGS else DrugPurpose.THERAPEUTIC
    default_container = ContainerKind.MULTI if drug.drug_id in _MULTI_DOSE_DRUGS else ContainerKind.SINGLE
    try:
        return DrugGiven.model_validate(
            {
                "drug_id": drug.drug_id,
                "ndc": component.ndc,
                **amounts,
                "container": component.container or default_container,
                "compounded": component.compounded,
                "supplied_by": component.supplied_by,
                "purpose": purpose,
                "invoice_ref": component.invoice_ref,
                "lot": row.lot,
            }
        )
    except ValidationError as exc:
        raise _rule_violation(exc, f"components.{index}") from exc


def _same_day_codes(session: Session, patient_ref: str, service_date: date, visit_key: str) -> tuple[str, ...]:
    corrected = select(ChargeEventRow.original_event_id).where(col(ChargeEventRow.original_event_id).is_not(None))
    codes = session.exec(
        select(ChargeEventRow.code)
        .where(
            ChargeEventRow.patient_ref == patient_ref,
            ChargeEventRow.service_date == service_date,
            ChargeEventRow.visit_key != visit_key,
            ChargeEventRow.kind == EventKind.CHARGE.value,
            ChargeEventRow.status == ChargeStatus.BILLABLE.value,
            col(ChargeEventRow.event_id).not_in(corrected),
        )
        .distinct()
    ).all()
    return tuple(sorted(codes))


def _rule_violation(exc: ValidationError, prefix: str) -> RuleViolationError:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    field = f"{prefix}.{location}" if location else prefix
    return RuleViolationError(message, field=field)
