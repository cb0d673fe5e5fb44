"""Co-signatures for tests that are about something else: a second check stored as if signed at the station.

Tests of co-signing itself go through the API (``tests/api/test_cosignatures_api.py``) with real
accounts and passwords; these helpers only spare other tests the second person.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from pump_service.domain.second_check import second_check_required
from pump_service.persistence.cosignature_models import Cosignature, CosignatureKind
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Pump
from pump_service.services.visits.cosignatures import COSIGNATURE_TTL
from pump_service.services.visits.refill_visit import plan_visit
from schemas.drug import AmountBasis


def store_cosignature(
    engine: Engine,
    serial: str,
    kind: CosignatureKind,
    payload: dict[str, Any],
    *,
    now: datetime,
    signer: str = "nurse-2",
    role: str = "nurse",
) -> int:
    with transaction(engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == serial)).one()
        if pump.id is None:
            raise LookupError(serial)
        row = Cosignature(
            kind=kind.value,
            pump_id=pump.id,
            signer=signer,
            signer_role=role,
            station_id="test-station",
            requested_by="nurse-7",
            payload=payload,
            created_at=now,
            expires_at=now + COSIGNATURE_TTL,
        )
        session.add(row)
        session.flush()
        if row.id is None:
            raise LookupError("not stored")
        return row.id


def second_checks_for(engine: Engine, serial: str, entry: Any, **plan: Any) -> list[int]:
    """Second checks matching every active drug of ``entry`` (none when the fill needs none)."""
    now: datetime = plan["clock"].now()
    planned = plan_visit(engine, serial, entry, **plan)
    if not second_check_required(planned.pump.route, planned.components):
        return []
    ids: Iterable[int] = (
        store_cosignature(
            engine,
            serial,
            CosignatureKind.SECOND_CHECK,
            {"drug_id": c.drug.drug_id, "concentration": c.concentration, "fill_volume_ml": entry.fill_volume_ml},
            now=now,
        )
        for c in planned.components
        if c.drug.amount_basis is not AmountBasis.VEHICLE and c.concentration is not None
    )
    return list(ids)
