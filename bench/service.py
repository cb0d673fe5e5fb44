"""Service figures: programmable refill visits over sim://, charges (the tick is bench/tick.py's)."""

import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine

from bench import Result, best_rate
from bench.sizes import sized
from pump_service.billing import VisitFacts, compute_charges, load_reference
from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.accounts import add_user, find_user
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.cosignature_contracts import SecondCheckCosignRequest
from pump_service.services.visits.cosignatures import sign_cosignature
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from simulators.clock import ManualClock
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.transport import register_programmer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # inside the 2026 billing tables
ACTOR = Actor(user="bench", station_id="bench")
VISITS = sized(40, 3)
CHARGE_SETS = sized(200, 5)
CHARGE_REPEATS = sized(3, 1)


def setup_station(tmp: str, pumps: int, model_id: str) -> tuple[Settings, Engine]:
    """A migrated SQLite station in ``tmp`` with ``pumps`` pumps P-00000... of ``model_id``, one patient."""
    settings = Settings(
        database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
        station_id="bench",
        clinic_capacity_per_day=96,
        clinic_slot_minutes=5,
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    route = "intra_arterial" if model_id == "hai-30" else "intrathecal"
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="B-1", body_mass_kg=70.0), actor=ACTOR, now=T0)
        for i in range(pumps):
            body: dict[str, object] = {
                "serial": f"P-{i:05d}",
                "model_id": model_id,
                "route": route,
                "patient_ref": "B-1",
            }
            if model_id != "hai-30":
                body["prescription"] = {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"}
            register_pump(session, PumpRegistration.model_validate(body), actor=ACTOR, now=T0 - timedelta(days=30))
    return settings, engine


def fudr_entry(at: datetime, key: str) -> RefillEntry:
    """A first 30 mL floxuridine fill of a constant-flow HAI pump (nothing returned)."""
    return RefillEntry.model_validate(
        {
            "performed_at": at,
            "returned_volume_ml": 0,
            "fill_volume_ml": "30 mL",
            "idempotency_key": key,
            "components": [
                {"drug_id": "floxuridine", "dose": {"mg_per_kg_per_day": "0.12 mg/kg/d"}},
                {"drug_id": "saline"},
            ],
        }
    )


SECOND_NURSE = ("bench-nurse-2", "bench-nurse-2-password")


def second_check(engine: Engine, serial: str, clock: ManualClock) -> int:
    """The second nurse's check of a 20 mL baclofen 2 mg/mL fill, signed with their password."""
    with transaction(engine) as session:
        if find_user(session, SECOND_NURSE[0]) is None:
            add_user(session, SECOND_NURSE[0], role=Role.NURSE, password=SECOND_NURSE[1], now=T0, created_by="bench")
    request = SecondCheckCosignRequest(
        kind="second_check",
        username=SECOND_NURSE[0],
        password=SecretStr(SECOND_NURSE[1]),
        drug_id="baclofen",
        concentration=2.0,
        fill_volume_ml=20.0,
    )
    return sign_cosignature(engine, serial, request, requester=ACTOR, clock=clock).cosignature_id


def _programmable_visits(count: int = VISITS) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings, engine = setup_station(tmp, count, "programmable-20")
        clock = ManualClock(T0)
        pumps = [
            SimulatedProgrammablePump(
                get_pump_model("programmable-20"),
                clock=clock,
                serial=f"P-{i:05d}",
                volume_ml=4.0,
                prescription=ContinuousPrescription(rate_ml_per_day=0.5),
            )
            for i in range(count)
        ]
        url = "sim://bench-visits"
        register_programmer(url, SimulatedProgrammer(pumps, clock=clock))
        entries = [
            RefillEntry.model_validate(
                {
                    "performed_at": T0,
                    "returned_volume_ml": 4.0,
                    "fill_volume_ml": "20 mL",
                    "idempotency_key": f"bench-visit-{i:04d}",
                    "components": [{"drug_id": "baclofen", "conc_mg_per_ml": "2 mg/mL"}],
                }
            )
            for i in range(count)
        ]
        # Intrathecal fills: a second nurse checks each one at the station (signed before the clock starts).
        entries = [
            entry.model_copy(update={"cosignatures": (second_check(engine, f"P-{i:05d}", clock),)})
            for i, entry in enumerate(entries)
        ]
        started = time.perf_counter()
        for i, entry in enumerate(entries):
            complete_visit(engine, f"P-{i:05d}", entry, settings=settings, clock=clock, actor=ACTOR, device_url=url)
        rate = count / (time.perf_counter() - started)
        engine.dispose()
    return rate


def _charges_per_second() -> float:
    reference = load_reference(on=date(2026, 3, 2))
    facts = VisitFacts.model_validate(
        {
            "visit_key": "bench-visit-0001",
            "service_at": "2026-03-02T14:00:00Z",
            "service_date": "2026-03-02",
            "patient_ref": "B-1",
            "route": "intra_arterial",
            "pump_family": "constant_flow",
            "refilled": True,
            "performer_role": "clinical_staff",
            "performer_id": "nurse-1",
            "place_of_service": "11",
            "payer_profile": "medicare",
            "drugs": [{"drug_id": "floxuridine", "administered_mg": 252, "opened_mg": 500, "container": "single"}],
            "supplies": [{"code": "A4220"}],
            "diagnoses": ["C78.7", "C18.9"],
        }
    )

    def work() -> int:
        for _ in range(CHARGE_SETS):
            compute_charges(facts, reference)
        return CHARGE_SETS

    return best_rate(work, repeats=CHARGE_REPEATS)


def run() -> list[Result]:
    return [
        Result("service.programmable_visits_sim", _programmable_visits(), "visits/s", True),
        Result("billing.compute_charges_hai_visit", _charges_per_second(), "visits/s", True),
    ]
