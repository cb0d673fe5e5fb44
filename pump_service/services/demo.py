"""Demo data for ``make run``: a few pseudonymous patients and pumps with a short refill history.

The history is recorded through the real refill use case, so every figure the demo shows was
computed by the same rules a clinic would see.
"""

from datetime import date, datetime, timedelta

from sqlmodel import Session

from pump_service.errors import NotFoundError
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import Refill
from pump_service.persistence.rows import get_stored
from pump_service.services.actor import Actor
from pump_service.services.charges.recording import record_visit_charges
from pump_service.services.contracts import FillComponentEntry, PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.refill_record import record_refill, refill_key
from pump_service.settings import Settings
from schemas.prescription import ContinuousPrescription, StepsPrescription
from schemas.pump import PumpFamily

__all__ = ["seed_demo"]

DEMO_ACTOR_USER = "demo-seed"


def _fudr_fill(performed_at: datetime, returned_ml: float) -> RefillEntry:
    return RefillEntry.model_validate(
        {
            "performed_at": performed_at,
            "returned_volume_ml": returned_ml,
            "fill_volume_ml": "30 mL",
            "components": [
                {
                    "drug_id": "floxuridine",
                    "dose": {"mg_per_kg_per_day": "0.12 mg/kg/d"},
                    "lot": "FU-DEMO-1",
                    "expires_on": (performed_at + timedelta(days=365)).date(),
                },
                {"drug_id": "saline"},
            ],
        }
    )


def _record(session: Session, serial: str, entry: RefillEntry, *, actor: Actor, settings: Settings) -> None:
    """A demo refill recorded as if at the time it happened, with its charges."""
    recorded_at = entry.performed_at + timedelta(minutes=5)
    result = record_refill(session, serial, entry, actor=actor, settings=settings, now=recorded_at)
    refill = get_stored(session, Refill, result.refill_id, referenced_by=f"the demo refill of pump {serial}")
    pump = repo.find_pump(session, serial)
    if pump is None:
        raise NotFoundError(f"demo pump {serial} is not registered")
    key, _ = refill_key(serial, entry)
    record_visit_charges(
        session,
        visit_key=key,
        refill=refill,
        pump=pump,
        entry=entry,
        settings=settings,
        actor=actor,
        now=recorded_at,
        prescription_changed=False,
        analysis_done=pump.family == PumpFamily.PROGRAMMABLE,
    )


def seed_demo(session: Session, *, settings: Settings, now: datetime) -> bool:
    """Add the demo records unless the database already holds pumps. Returns whether it seeded."""
    if repo.list_pumps(session):
        return False
    actor = Actor(user=DEMO_ACTOR_USER, station_id=settings.station_id)
    for ref, mass in (("DEMO-P001", 70.0), ("DEMO-P002", 82.5), ("DEMO-P003", 64.0)):
        register_patient(session, PatientEntry(patient_ref=ref, body_mass_kg=mass), actor=actor, now=now)

    implanted = now - timedelta(days=60)
    register_pump(
        session,
        PumpRegistration(
            serial="HAI-0001",
            model_id="hai-30",
            route="intra_arterial",
            patient_ref="DEMO-P001",
            implanted_at=implanted,
        ),
        actor=actor,
        now=now,
    )
    first = now - timedelta(days=27, hours=3)
    _record(session, "HAI-0001", _fudr_fill(first, 0.0), actor=actor, settings=settings)
    _record(session, "HAI-0001", _fudr_fill(first + timedelta(days=14), 19.0), actor=actor, settings=settings)

    register_pump(
        session,
        PumpRegistration(
            serial="CF50-0002",
            model_id="cf-50",
            route="intravenous",
            patient_ref="DEMO-P002",
            nominal_rate_ml_per_day="3 mL/d",
            implanted_at=implanted,
        ),
        actor=actor,
        now=now,
    )
    heparin_fill = RefillEntry(
        performed_at=now - timedelta(days=9),
        returned_volume_ml=0.0,
        fill_volume_ml=45.0,
        components=(
            FillComponentEntry.model_validate(
                {
                    "drug_id": "heparin",
                    "amount_usp_u": "20000 U",
                    "lot": "HEP-DEMO",
                    "expires_on": date(now.year + 1, 1, 31),
                }
            ),
            FillComponentEntry(drug_id="saline"),
        ),
    )
    _record(session, "CF50-0002", heparin_fill, actor=actor, settings=settings)

    register_pump(
        session,
        PumpRegistration(
            serial="SM20-0003",
            model_id="programmable-20",
            route="intrathecal",
            patient_ref="DEMO-P003",
            implanted_at=implanted,
            prescription=ContinuousPrescription(rate_ml_per_day=0.5),
        ),
        actor=actor,
        now=now,
    )
    baclofen = RefillEntry.model_validate(
        {
            "performed_at": now - timedelta(days=20),
            "returned_volume_ml": "0 mL",
            "fill_volume_ml": "20 mL",
            "components": [
                {
                    "drug_id": "baclofen",
                    "conc_mg_per_ml": "2000 ug/mL",
                    "lot": "BAC-DEMO",
                    "expires_on": date(now.year + 1, 6, 30),
                }
            ],
        }
    )
    _record(session, "SM20-0003", baclofen, actor=actor, settings=settings)

    register_pump(
        session,
        PumpRegistration(
            serial="SM40-0004",
            model_id="programmable-40",
            route="intrathecal",
            prescription=StepsPrescription.model_validate(
                {
                    "mode": "steps",
                    "steps": [
                        {"start": "00:00", "rate_ml_per_day": "0.3 mL/d"},
                        {"start": "08:00", "rate_ml_per_day": "0.6 mL/d"},
                    ],
                }
            ),
        ),
        actor=actor,
        now=now,
    )
    return True
