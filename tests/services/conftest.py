from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from pump_service.domain.access import Role
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry, RefillResult
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from tests.support import T0

Record = Callable[..., RefillResult]

# A physician overrides hard stops in their own name (the acting user, never a name in the body).
PHYSICIAN = Actor(user="dr-1", station_id="test-station", role=Role.PHYSICIAN)


@pytest.fixture
def hai_pump(engine: Engine, actor: Actor) -> str:
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=actor, now=T0)
        register_pump(
            session,
            PumpRegistration.model_validate(
                {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
            ),
            actor=actor,
            now=T0,
        )
    return "HAI-1"


@pytest.fixture
def record(engine: Engine, settings: Settings, actor: Actor) -> Record:
    """Record a refill request dict in its own transaction, as the API does."""

    def _record(
        serial: str, body: dict[str, Any], now: datetime | None = None, as_actor: Actor | None = None
    ) -> RefillResult:
        entry = RefillEntry.model_validate(body)
        with transaction(engine) as session:
            return record_refill(
                session, serial, entry, actor=as_actor or actor, settings=settings, now=now or entry.performed_at
            )

    return _record
