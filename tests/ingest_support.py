"""The pump-log ingest checks shared by the SQLite and PostgreSQL suites."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import select

from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord
from pump_service.services.actor import Actor, acting_as
from pump_service.services.audit import verify_audit_chain
from pump_service.services.contracts import PatientEntry, PumpRegistration
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.interrogation import store_log_entries
from schemas.device_log import DeviceLogEntry, LogEntryType
from tests.audit_support import audit_rows
from tests.support import T0

SERIAL = "SM-INGEST"


@contextmanager
def statements_on(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends inside the block (an executemany counts once)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def registered_pump(engine: Engine, actor: Actor) -> int:
    with acting_as(actor), transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-ING", body_mass_kg=70.0), actor=actor, now=T0)
        pump = register_pump(
            session,
            PumpRegistration.model_validate(
                {
                    "serial": SERIAL,
                    "model_id": "programmable-20",
                    "route": "intrathecal",
                    "patient_ref": "P-ING",
                    "prescription": {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"},
                }
            ),
            actor=actor,
            now=T0,
        )
        session.flush()
        if pump.id is None:
            raise AssertionError("the pump was not stored")
        return pump.id


def log_page(first: int, count: int) -> list[DeviceLogEntry]:
    return [
        DeviceLogEntry(
            index=i,
            device_time_at=T0 + timedelta(minutes=i),
            type=LogEntryType.BOLUS,
            data={"volume_ml": 0.1, "n": i},
        )
        for i in range(first, first + count)
    ]


def store_page(engine: Engine, pump_id: int, entries: list[DeviceLogEntry], actor: Actor) -> int:
    with acting_as(actor), transaction(engine) as session:
        return store_log_entries(session, pump_id, entries, actor=actor, now=T0 + timedelta(hours=1))


def check_overlapping_pages(engine: Engine, actor: Actor) -> None:
    """Two overlapping pages: each one insert, the overlap skipped, counts right, one summary per ingest."""
    pump_id = registered_pump(engine, actor)
    with statements_on(engine) as seen:
        first = store_page(engine, pump_id, log_page(0, 300), actor)
    inserts = [s for s in seen if s.lstrip().upper().replace('"', "").startswith("INSERT INTO DEVICE_LOG")]
    assert len(inserts) == 1, inserts  # one bulk insert for the page, not one per row
    again = store_page(engine, pump_id, log_page(250, 100), actor)  # 50 already stored
    nothing = store_page(engine, pump_id, log_page(0, 10), actor)  # all already stored
    assert (first, again, nothing) == (300, 50, 0)
    with transaction(engine) as session:
        rows = session.exec(
            select(DeviceLogRecord).where(DeviceLogRecord.pump_id == pump_id, DeviceLogRecord.source == "pump")
        ).all()
    assert sorted(r.log_index for r in rows if r.log_index is not None) == list(range(350))
    assert {r.actor for r in rows} == {actor.user}
    assert rows[0].data == {"volume_ml": 0.1, "n": rows[0].log_index}
    assert rows[0].device_time_at == T0 + timedelta(minutes=rows[0].log_index or 0)
    summaries = [e for e in audit_rows(engine, entity="device_log") if e.entity_id is None]
    assert [(e.after["rows"], e.after["first_log_index"], e.after["last_log_index"]) for e in summaries] == [
        (300, 0, 299),
        (50, 300, 349),
    ]  # the ingest that stored nothing changed nothing: no entry
    by_index = {r.log_index: r.id for r in rows}
    assert (summaries[1].after["first_id"], summaries[1].after["last_id"]) == (by_index[300], by_index[349])
    assert all(str(e.note).startswith("device data") and e.actor_user == actor.user for e in summaries)
    with transaction(engine) as session:
        assert verify_audit_chain(session).intact
