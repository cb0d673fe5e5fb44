"""A clinic's billing set-up, stored in the database: versions, the one in effect, the reference it gives.

Stored in the database rather than in a configuration directory because several stations share
one database: every station then bills a clinic's visits with the same version, each version
records who made it from which station, and a visit's charges and the version they used commit
together. The payload has the schema of the packaged ``profiles.toml`` and is validated by the
same parser (:func:`pump_service.billing.with_clinic_profiles`) when a version is stored and
again whenever it is used.
"""

from datetime import date, datetime

from sqlmodel import Session, col, func, select

from pump_service.billing import BillingDataError, ClinicBillingConfig, ReferenceData, with_clinic_profiles
from pump_service.errors import RuleViolationError
from pump_service.persistence.charge_models import ClinicBilling
from pump_service.persistence.models import Pump
from pump_service.persistence.rows import clinic_id_of
from pump_service.persistence.schedule_models import Clinic
from pump_service.services.actor import Actor
from pump_service.services.charges.contracts import ClinicBillingEntry, ClinicBillingView
from pump_service.services.charges.visit_facts import reference_for
from pump_service.services.scheduling.clinics import get_clinic, pump_clinic
from pump_service.settings import Settings

__all__ = [
    "billing_reference",
    "clinic_billing_history",
    "clinic_billing_in_effect",
    "pump_clinic",
    "set_clinic_billing",
]


def set_clinic_billing(
    session: Session, clinic_id: str, entry: ClinicBillingEntry, *, actor: Actor, now: datetime
) -> ClinicBillingView:
    """Store a new version of the clinic's billing set-up, after validating it for its first day.

    Raises:
        NotFoundError: no such clinic.
        RuleViolationError: an unknown jurisdiction or payer profile, or a profile that does not
            follow the packaged schema; ``field`` names it (``jurisdiction``, ``payer_profile``,
            ``profiles.<id>``). Nothing is stored.
    """
    clinic = get_clinic(session, clinic_id)
    if entry.jurisdiction is not None and clinic.jurisdiction not in (None, entry.jurisdiction):
        raise RuleViolationError(
            f"the clinic's jurisdiction is {clinic.jurisdiction}, not {entry.jurisdiction}: change it on the clinic "
            "(clinic set) or leave it out here",
            field="jurisdiction",
        )
    key = clinic_id_of(clinic)
    latest = session.exec(select(func.max(ClinicBilling.version)).where(ClinicBilling.clinic_id == key)).one()
    row = ClinicBilling(
        clinic_id=key,
        version=(latest or 0) + 1,
        effective_from=entry.effective_from,
        jurisdiction=entry.jurisdiction,
        place_of_service=entry.place_of_service,
        payer_profile=entry.payer_profile,
        profiles=entry.profiles,
        note=entry.note,
        created_at=now,
        created_by=actor.user,
        station_id=actor.station_id,
    )
    config = _config(clinic, row)
    try:
        reference = reference_for(entry.effective_from)
    except BillingDataError as exc:
        raise RuleViolationError(str(exc), field="effective_from") from exc
    try:
        with_clinic_profiles(reference, config, on=entry.effective_from)
    except BillingDataError as exc:
        raise RuleViolationError(str(exc), field=_field(exc.entry)) from exc
    session.add(row)
    session.flush()
    return _view(clinic, row)


def clinic_billing_history(session: Session, clinic_id: str) -> list[ClinicBillingView]:
    """Every version of the clinic's billing set-up, oldest first.

    Raises:
        NotFoundError: no such clinic.
    """
    clinic = get_clinic(session, clinic_id)
    rows = session.exec(
        select(ClinicBilling)
        .where(ClinicBilling.clinic_id == clinic_id_of(clinic))
        .order_by(col(ClinicBilling.version))
    ).all()
    return [_view(clinic, row) for row in rows]


def clinic_billing_in_effect(session: Session, clinic: Clinic, day: date) -> ClinicBillingConfig | None:
    """The newest version in effect on ``day`` (a later version supersedes an earlier one), or None."""
    row = session.exec(
        select(ClinicBilling)
        .where(ClinicBilling.clinic_id == clinic_id_of(clinic), col(ClinicBilling.effective_from) <= day)
        .order_by(col(ClinicBilling.version).desc())
        .limit(1)
    ).first()
    return None if row is None else _config(clinic, row)


def billing_reference(
    session: Session, pump: Pump, settings: Settings, day: date
) -> tuple[ReferenceData, ClinicBillingConfig | None]:
    """The reference for a visit of ``pump`` on ``day``: the packaged tables plus its clinic's profiles.

    Raises:
        BillingDataError: the packaged tables do not serve ``day``, or the clinic's stored set-up
            no longer validates against them (a packaged profile or code it names was retired).
    """
    reference = reference_for(day)
    clinic = pump_clinic(session, pump, settings)
    config = None if clinic is None else clinic_billing_in_effect(session, clinic, day)
    if config is None:
        return reference, None
    return with_clinic_profiles(reference, config, on=day), config


def _config(clinic: Clinic, row: ClinicBilling) -> ClinicBillingConfig:
    return ClinicBillingConfig(
        clinic=clinic.clinic_id,
        version=row.version,
        effective_from=row.effective_from,
        jurisdiction=row.jurisdiction or clinic.jurisdiction,  # the clinic's own unless the set-up names it
        place_of_service=row.place_of_service,
        payer_profile=row.payer_profile,
        profiles=row.profiles,
    )


def _view(clinic: Clinic, row: ClinicBilling) -> ClinicBillingView:
    return ClinicBillingView(
        clinic=clinic.clinic_id,
        version=row.version,
        effective_from=row.effective_from,
        jurisdiction=row.jurisdiction,
        place_of_service=row.place_of_service,
        payer_profile=row.payer_profile,
        profiles=row.profiles,
        note=row.note,
        created_at=row.created_at,
        created_by=row.created_by,
        station_id=row.station_id,
    )


def _field(entry: str | None) -> str:
    if entry in {"jurisdiction", "payer_profile"}:
        return entry
    if entry and entry.startswith("profiles."):
        return entry
    return f"profiles.{entry}" if entry else "profiles"
