"""A programmable visit's bookkeeping around the device write: the ``writing`` row, its request ids, leftovers.

The visit row is committed in state ``writing`` *before* anything is sent, with the request id of
each write, the pump log's cursor and the register read before the write; a retry (after a crash,
or from another station) finds it, reconciles it from the pump's log and never writes twice.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from pump_service.domain.refill_plan import RefillPlan, RegisterReading
from pump_service.errors import ConflictError
from pump_service.persistence.db import read_transaction, transaction
from pump_service.persistence.visit_models import Visit, VisitState
from pump_service.services.actor import Actor
from pump_service.services.contracts import RefillEntry
from pump_service.settings import Settings
from schemas.drug import AmountBasis
from schemas.status import DrugInPump, PumpStatus

__all__ = [
    "VisitRequest",
    "abort_visit",
    "begin_writing",
    "drug_in_pump",
    "new_visit",
    "register_before",
    "unfinished_visits",
    "write_ids",
    "writing_visit",
]


@dataclass(frozen=True, slots=True)
class VisitRequest:
    """One refill request as the visit handles it: the entry, its keys, who and when."""

    serial: str
    entry: RefillEntry
    visit_key: str
    digest: str
    settings: Settings
    actor: Actor
    now: datetime


def write_ids(visit_key: str) -> tuple[str, str]:
    # request ids are at most 64 characters; the visit key may be 80: a stable digest of it.
    stem = "v" + hashlib.sha256(visit_key.encode()).hexdigest()[:32]
    return f"{stem}-refill", f"{stem}-rx"


def register_before(engine: Engine, visit_key: str, before: PumpStatus, read_at: datetime) -> RegisterReading:
    """The register as it was before this visit's write: stored with the visit if it got that far."""
    with read_transaction(engine) as session:
        visit = session.exec(select(Visit).where(Visit.visit_key == visit_key)).first()
        if visit is not None and visit.register_ml is not None and visit.register_read_at is not None:
            return RegisterReading(visit.register_ml, visit.register_read_at)
    return RegisterReading(before.reservoir_ml, read_at)


def unfinished_visits(engine: Engine, pump_id: int, visit_key: str) -> list[Visit]:
    """The pump's other visits (any kind) left in ``writing``: each may or may not have reached the pump."""
    with read_transaction(engine) as session:
        rows = session.exec(
            select(Visit).where(
                Visit.pump_id == pump_id, Visit.state == VisitState.WRITING.value, Visit.visit_key != visit_key
            )
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def abort_visit(engine: Engine, visit: Visit, actor: Actor, now: datetime) -> None:
    """An unfinished visit whose write never reached the pump is abandoned, on the record."""
    with transaction(engine) as session:
        row = session.get(Visit, visit.id)
        if row is None:
            return
        row.state, row.updated_at, row.updated_by = VisitState.ABORTED.value, now, actor.user
        session.add(row)


def drug_in_pump(plan: RefillPlan) -> DrugInPump:
    """What the pump is told it holds: the first active drug at the concentration the fill computed."""
    for component in plan.components:
        if component.drug.amount_basis is AmountBasis.VEHICLE:
            continue
        mass = component.drug.amount_basis is AmountBasis.MASS
        return DrugInPump(
            name=component.drug.drug_id,
            conc_mg_per_ml=component.concentration if mass else None,
            conc_usp_u_per_ml=None if mass else component.concentration,
        )
    return DrugInPump(name=plan.components[0].drug.drug_id)


def writing_visit(
    engine: Engine, pump_id: int, req: VisitRequest, before: PumpStatus, register: RegisterReading, *, rx_changed: bool
) -> Visit:
    """The refill's visit row in ``writing``, committed before ``REFILL_WRITE`` (and any ``RX_WRITE``) is sent."""
    refill_id, rx_id = write_ids(req.visit_key)
    return begin_writing(
        engine,
        visit_key=req.visit_key,
        digest=req.digest,
        pump_id=pump_id,
        actor=req.actor,
        now=req.now,
        what="refill",
        refill_request_id=refill_id,
        rx_request_id=rx_id,
        log_cursor=before.log.next,
        register_ml=register.reservoir_ml,
        register_read_at=register.read_at,
        facts={"rx_changed": rx_changed},
    )


def begin_writing(
    engine: Engine,
    *,
    visit_key: str,
    digest: str,
    pump_id: int,
    actor: Actor,
    now: datetime,
    what: str,
    **columns: Any,
) -> Visit:
    """A visit row in ``writing`` with ``columns``, committed at once; a retry of the same request keeps it.

    Raises:
        ConflictError: the key's visit was started for a different request (``what`` names its kind).
    """
    with transaction(engine) as session:
        visit = session.exec(select(Visit).where(Visit.visit_key == visit_key)).first()
        if visit is None:
            visit = new_visit(visit_key, digest, pump_id, VisitState.WRITING, actor, now, **columns)
        elif visit.request_digest != digest:
            raise ConflictError(f"visit {visit_key} was started for a different {what}")
        visit.updated_at, visit.updated_by = now, actor.user
        session.add(visit)
        session.flush()
        session.expunge(visit)
    return visit


def new_visit(
    visit_key: str, digest: str, pump_id: int, state: VisitState, actor: Actor, now: datetime, **columns: Any
) -> Visit:
    """A visit row as first stored: its key and request digest, its state, who started it and when."""
    return Visit(
        visit_key=visit_key,
        pump_id=pump_id,
        state=state.value,
        request_digest=digest,
        started_at=now,
        started_by=actor.user,
        station_id=actor.station_id,
        updated_at=now,
        updated_by=actor.user,
        **columns,
    )
