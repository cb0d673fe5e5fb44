"""Interrogate a programmable pump through the programmer and store what it says.

Link, read ``STATUS`` (reservoir, prescription, battery, alarms, the pump's clock), check that the
pump is the registered one and that its log continues the stored one (``continuity.py``: a pump
whose log restarted is re-baselined into a new log epoch, never left failing), download the
pump's event log from where the last download stopped, and store it all: each log entry once
(``(pump, log epoch, log index)`` is unique, so reading twice stores nothing twice: one bulk
insert per page, duplicates skipped by the database), the pump's new state,
its clock drift, and a due date recomputed from the reading. The device is read with no database
transaction open; each page of the log is committed as it arrives, so a link that drops in the
middle of 8192 entries loses nothing already read and the next download resumes after it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pump_service.devices import LogDownload, log_download_errors, programmer_link
from pump_service.errors import NotFoundError, RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.bulk_insert import insert_skipping_duplicates
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, Pump
from pump_service.services.actor import Actor
from pump_service.services.audit.capture import capture_device_ingest
from pump_service.services.pumps.registry import check_active, write_prescription_row
from pump_service.services.pumps.state import current_planning_rate
from pump_service.services.scheduling.replanning import replan_from_reading
from pump_service.services.visits.continuity import check_continuity, epoch_cursor
from pump_service.settings import Settings
from schemas.clock import Clock
from schemas.device_log import DeviceLogEntry
from schemas.pump import PumpFamily
from schemas.status import PumpStatus

__all__ = ["InterrogationResult", "interrogate", "log_cursor", "store_log_entries", "store_status"]

_DEVICE_LOG = DeviceLogRecord.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class InterrogationResult:
    pump_serial: str
    reservoir_ml: float
    battery_state: str
    alarms: tuple[str, ...]
    clock_drift_s: float
    new_log_entries: int
    skipped_log_entries: int
    log_next_index: int
    next_due_at: datetime | None
    warnings: tuple[str, ...] = ()  # for the nurse: a re-baselined log, a clock to set


def _epoch_of(session: Session, pump_id: int) -> int:
    """The pump's current log epoch: one column, not the pump loaded (an ingest reads it every page)."""
    epoch = session.execute(select(Pump.log_epoch).where(col(Pump.id) == pump_id)).scalar_one_or_none()
    if epoch is None:
        raise NotFoundError(f"no pump with id {pump_id}")
    return int(epoch)


def log_cursor(session: Session, pump_id: int) -> int:
    """The log index after the newest entry stored for the pump in its current log epoch (0 if none)."""
    return epoch_cursor(session, pump_id, _epoch_of(session, pump_id))


def store_log_entries(
    session: Session, pump_id: int, entries: Sequence[DeviceLogEntry], *, actor: Actor, now: datetime
) -> int:
    """Store the entries not stored yet in the pump's current log epoch; returns how many were new.

    One bulk insert for the page, duplicates skipped by the unique ``(pump, log epoch, log index)``
    (a re-read page, a resumed download), so the database, not a prior SELECT, decides what is new
    and RETURNING names exactly the new rows; the audit trail gets its one summary entry for them,
    queued here since no flush sees rows written without the ORM.
    """
    if not entries:
        return 0
    epoch = _epoch_of(session, pump_id)
    stored = insert_skipping_duplicates(
        session.connection(),
        _DEVICE_LOG,
        shared={
            "pump_id": pump_id,
            "source": "pump",
            "log_epoch": epoch,
            "recorded_at": now,
            "actor": actor.user,
            "station_id": actor.station_id,
        },
        columns=("log_index", "entry_type", "device_time_at", "data"),
        rows=[(entry.index, entry.type.value, entry.device_time_at, entry.data) for entry in entries],
        key=("pump_id", "log_epoch", "log_index"),
        returning=("id", "log_index"),
    )
    if stored:
        capture_device_ingest(
            session, pump_id, epoch, ids=[row[0] for row in stored], log_indices=[row[1] for row in stored]
        )
    return len(stored)


def _registered_pump(session: Session, serial: str) -> Pump:
    pump = repo.find_pump(session, serial)
    if pump is None:
        raise NotFoundError(f"pump {serial} answered but is not registered: register it first (pumps add)")
    if pump.family is not PumpFamily.PROGRAMMABLE:
        raise RuleViolationError(f"{serial} is registered as a constant-flow pump", field="serial")
    check_active(session, pump)
    return pump


def store_status(
    session: Session,
    pump: Pump,
    status: PumpStatus,
    *,
    read_at: datetime,
    settings: Settings,
    actor: Actor,
    replan: bool = True,
) -> datetime | None:
    """The pump's state from ``status`` read at ``read_at``; replans its due date. Returns it.

    ``replan=False`` is the read-back right after a refill: the refill's plan has just set the
    due date and the booking, and the reading changes nothing it was planned from.
    """
    if pump.id is None:
        raise NotFoundError(f"pump {pump.serial} is not stored")
    current = repo.current_prescription(session, pump.id)
    if status.prescription is not None and (current is None or current.rx_id != status.prescription.rx_id):
        # Changed elsewhere (another station, the patient's controller): the pump is the truth.
        write_prescription_row(session, pump, status.prescription, actor=actor, now=read_at)
    # The same planning rate as the refill: the pump's basal plus the registered bolus allowance.
    daily = current_planning_rate(session, pump, at=read_at).rate_ml_per_day
    due_at = pump.next_due_at
    if replan:
        due_at = replan_from_reading(
            session,
            pump,
            reservoir_ml=status.reservoir_ml,
            reading_at=read_at,
            daily_volume_ml=daily,
            low_reservoir_ml=status.low_reservoir_alarm_ml,
            settings=settings,
            actor=actor,
            now=read_at,
        ).due_at
    # The reading's columns are set after the reads and the booking above (each flushes): one UPDATE.
    pump.reservoir_ml = status.reservoir_ml
    pump.reservoir_at = read_at
    pump.battery_state = status.battery.state.value
    pump.months_to_eri = status.battery.months_to_eri
    pump.clock_drift_s = (status.clock_at - read_at).total_seconds()
    pump.alarms = [{"code": a.code.value, "since": a.since_at.isoformat()} for a in status.alarms]
    pump.planning_rate_ml_per_day = daily
    pump.version += 1
    pump.updated_at, pump.updated_by = read_at, actor.user
    session.add(pump)
    session.add(
        DeviceLogRecord(
            pump_id=pump.id,
            source="service",
            log_epoch=pump.log_epoch,
            entry_type="INTERROGATED",
            device_time_at=status.clock_at,
            recorded_at=read_at,
            data={
                "reservoir_ml": status.reservoir_ml,
                "battery": status.battery.state.value,
                "clock_drift_s": pump.clock_drift_s,
                "log_next": status.log.next,
            },
            actor=actor.user,
            station_id=actor.station_id,
        )
    )
    session.flush()
    return due_at


def interrogate(
    engine: Engine,
    url: str,
    *,
    settings: Settings,
    clock: Clock,
    actor: Actor,
    pump_serial: str | None = None,
) -> InterrogationResult:
    """Link to the pump on ``url`` (the one in range, or ``pump_serial``), read it and store it.

    A pump whose log restarted (a reset, a new board) is re-baselined: its new log is stored in
    a new epoch and the result carries a warning.

    Raises:
        DeviceError: the programmer or the link failed (what was read before is kept).
        NotFoundError: the pump that answered (or ``pump_serial``) is not registered.
        ConflictError: a different pump answered than the one registered, or it was explanted.
    """
    with programmer_link(url, clock=clock) as client:
        client.link(pump_serial)
        status = client.status()
        read_at = clock.now()
        with transaction(engine) as session:
            pump = _registered_pump(session, pump_serial or status.serial)
            if pump.id is None:
                raise NotFoundError(f"pump {pump.serial} is not stored")
            pump_id = pump.id
        warnings = check_continuity(engine, pump_id, status, actor=actor, now=read_at, client=client)
        with transaction(engine) as session:
            cursor = log_cursor(session, pump_id)
        skipped = 0
        progress = LogDownload(resume_at=cursor)
        with log_download_errors(url, progress):  # what was stored stays; the error says where to resume
            for page in client.read_log_pages(cursor):
                with transaction(engine) as session:
                    progress.stored += store_log_entries(session, pump_id, page.entries, actor=actor, now=clock.now())
                skipped += page.skipped_entries
                progress.resume_at = page.next_index
        new, next_index = progress.stored, progress.resume_at
        with transaction(engine) as session:
            pump = _registered_pump(session, pump_serial or status.serial)
            due_at = store_status(session, pump, status, read_at=read_at, settings=settings, actor=actor)
            if skipped:
                session.add(
                    DeviceLogRecord(
                        pump_id=pump_id,
                        source="service",
                        log_epoch=pump.log_epoch,
                        entry_type="LOG_GAP",
                        recorded_at=read_at,
                        data={"skipped_entries": skipped, "resumed_at_index": next_index - new},
                        actor=actor.user,
                        station_id=actor.station_id,
                    )
                )
    return InterrogationResult(
        pump_serial=status.serial,
        reservoir_ml=status.reservoir_ml,
        battery_state=status.battery.state.value,
        alarms=tuple(a.code.value for a in status.alarms),
        clock_drift_s=(status.clock_at - read_at).total_seconds(),
        new_log_entries=new,
        skipped_log_entries=skipped,
        log_next_index=next_index,
        next_due_at=due_at,
        warnings=warnings,
    )
