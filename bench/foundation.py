"""Foundation figures: unit parsing at the edge, the refill math, and recording refills in SQLite."""

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import Result, best_rate
from bench.sizes import sized
from pump_service.domain.residual import ConditionPeriod, expected_residual_ml
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from schemas.flow_law import FlowConditions
from schemas.pump_catalogue import get_pump_model
from schemas.units import to_canonical

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PARSES = sized(2_000, 20)
RESIDUALS = sized(5_000, 20)
REPEATS = sized(5, 1)  # best of: the machine is shared
REFILL_PUMPS = sized(50, 3)
REFILL_CYCLES = sized(4, 2)


def _parse_rate() -> float:
    def work() -> int:
        for _ in range(PARSES):
            to_canonical("2.5 mL/h", "rate")
        return PARSES

    return best_rate(work, repeats=REPEATS)


def _expected_residual() -> float:
    model = get_pump_model("hai-30")
    periods = [
        ConditionPeriod(T0 + timedelta(days=3), FlowConditions(body_temperature_c=39.0)),
        ConditionPeriod(T0 + timedelta(days=6), FlowConditions()),
        ConditionPeriod(T0 + timedelta(days=9), FlowConditions.at_altitude(2438.4)),
    ]
    now = T0 + timedelta(days=14)

    def work() -> int:
        for _ in range(RESIDUALS):
            expected_residual_ml(
                model=model, fill_volume_ml=30.0, rate_ml_per_day=1.0, filled_at=T0, now=now, periods=periods
            )
        return RESIDUALS

    return best_rate(work, repeats=REPEATS)


def _record_refills(pumps: int = REFILL_PUMPS, cycles: int = REFILL_CYCLES) -> float:
    """Refills per second, each in its own transaction (fsync-bound, as at a station)."""
    actor = Actor(user="bench", station_id="bench")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", station_id="bench")
        engine = make_engine(settings.database_url)
        upgrade(engine)
        with transaction(engine) as session:
            register_patient(session, PatientEntry(patient_ref="B-1", body_mass_kg=70.0), actor=actor, now=T0)
            for i in range(pumps):
                registration = PumpRegistration.model_validate(
                    {"serial": f"HAI-{i:04d}", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "B-1"}
                )
                register_pump(session, registration, actor=actor, now=T0)
        entries = [
            RefillEntry.model_validate(
                {
                    "performed_at": T0 + timedelta(days=14 * c, hours=1),
                    "returned_volume_ml": "0 mL" if c == 0 else "16 mL",
                    "fill_volume_ml": "30 mL",
                    "components": [
                        {"drug_id": "floxuridine", "dose": {"mg_per_kg_per_day": "0.12 mg/kg/d"}},
                        {"drug_id": "saline"},
                    ],
                }
            )
            for c in range(cycles)
        ]

        def work() -> int:
            for entry in entries:
                for i in range(pumps):
                    with transaction(engine) as session:
                        now = entry.performed_at + timedelta(minutes=5)
                        record_refill(session, f"HAI-{i:04d}", entry, actor=actor, settings=settings, now=now)
            return pumps * cycles

        rate = best_rate(work, repeats=1)
        engine.dispose()
    return rate


def run() -> list[Result]:
    return [
        Result("units.parse_rate_string", _parse_rate(), "parses/s", True),
        Result("domain.expected_residual_3_periods", _expected_residual(), "calls/s", True),
        Result("services.record_refill_sqlite", _record_refills(), "refills/s", True),
    ]
