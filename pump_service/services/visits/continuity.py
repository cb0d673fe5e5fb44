"""Is the pump that answered the one registered, and is its log still the log we stored?

Two checks run on every ``STATUS`` of a programmable pump, before its log is downloaded or a write
goes out:

- **Identity.** The serial and the model that answered must be the registered pump's. Anything
  else is a different pump on the programmer (a wrong selection, a mislabelled record): refused
  with both named, nothing stored.
- **Continuity.** HPP/1 log indices only ever increase, so the stored cursor (the index after the
  newest stored entry) can never be ahead of the pump's ``log.next``. When it is, or when the
  pump's clock reads earlier than the newest entry stored from it, or when the entry stored last
  is not what the pump holds at that index, the log restarted: a reset, a replacement board, a
  restarted simulator. Failing would block the pump forever (every ``LOG_READ`` from the old
  cursor is ``OUT_OF_RANGE``), so the pump is *re-baselined*: a new log epoch starts, the old
  entries stay as history, a ``LOG_REBASELINED`` entry records what was seen, and the nurse is
  warned. The new epoch is downloaded from the pump's oldest entry.

The clock alone is weaker evidence than the log (a station may set a fast clock back), so when
the entry stored last can still be read from the pump and matches, the log is continuous and the
clock only earns a warning.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from pump_service.devices import ProgrammerClient
from pump_service.errors import ConflictError, NotFoundError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, Pump
from pump_service.services.actor import Actor
from pump_service.services.pumps.registry import check_active
from schemas.device_log import DeviceLogEntry
from schemas.status import PumpStatus

__all__ = [
    "LogBreak",
    "StoredLog",
    "check_continuity",
    "check_identity",
    "epoch_cursor",
    "find_break",
    "stored_log",
]


class LogBreak(StrEnum):
    """Why the pump's log is taken to have restarted."""

    LOG_BEHIND = "log_behind"  # its log.next is below the stored cursor
    ENTRY_DIFFERS = "entry_differs"  # the newest stored entry is not the one it holds at that index
    CLOCK_BEHIND = "clock_behind"  # its clock reads before the newest entry stored from it


@dataclass(frozen=True, slots=True)
class StoredLog:
    """What is stored of the pump's log in its current epoch."""

    epoch: int
    cursor: int  # the index after the newest stored entry (0 if none)
    newest: DeviceLogRecord | None  # the stored entry with the highest index
    newest_device_time_at: datetime | None  # the latest pump clock stamp among the stored entries


def epoch_cursor(session: Session, pump_id: int, epoch: int) -> int:
    """The log index after the newest entry stored for the pump in ``epoch`` (0 if none)."""
    newest = session.exec(
        select(func.max(DeviceLogRecord.log_index)).where(
            DeviceLogRecord.pump_id == pump_id, DeviceLogRecord.log_epoch == epoch
        )
    ).one()
    return 0 if newest is None else int(newest) + 1


def stored_log(session: Session, pump: Pump) -> StoredLog:
    """The stored part of ``pump``'s current log epoch."""
    pump_id = _id_of(pump)
    in_epoch = (
        DeviceLogRecord.pump_id == pump_id,
        DeviceLogRecord.log_epoch == pump.log_epoch,
        col(DeviceLogRecord.log_index).is_not(None),
    )
    newest = session.exec(
        select(DeviceLogRecord).where(*in_epoch).order_by(col(DeviceLogRecord.log_index).desc()).limit(1)
    ).first()
    latest = session.exec(select(func.max(DeviceLogRecord.device_time_at)).where(*in_epoch)).one()
    cursor = 0 if newest is None or newest.log_index is None else newest.log_index + 1
    return StoredLog(epoch=pump.log_epoch, cursor=cursor, newest=newest, newest_device_time_at=latest)


def check_identity(pump: Pump, status: PumpStatus) -> None:
    """Raises: ConflictError: the serial or the model that answered is not the registered pump's."""
    if status.serial == pump.serial and status.model_id == pump.model_id:
        return
    raise ConflictError(
        f"a different pump answered: registered {pump.serial} ({pump.model_id}), answering "
        f"{status.serial} ({status.model_id}); nothing was stored: check the pump selected on the "
        "programmer, or correct the registration (pumps set-model) if the record is wrong"
    )


def find_break(stored: StoredLog, status: PumpStatus, held: DeviceLogEntry | None = None) -> LogBreak | None:
    """Whether the pump's log restarted since what is stored; ``None`` if it continues it.

    ``held`` is the entry the pump holds at the newest stored index, when it could be read: a
    match proves the log continues whatever the clock says; a mismatch proves it restarted.
    """
    if status.log.next < stored.cursor:
        return LogBreak.LOG_BEHIND
    if held is not None and stored.newest is not None:
        same = (held.index, held.type.value, held.device_time_at) == (
            stored.newest.log_index,
            stored.newest.entry_type,
            stored.newest.device_time_at,
        )
        return None if same else LogBreak.ENTRY_DIFFERS
    if stored.newest_device_time_at is not None and status.clock_at < stored.newest_device_time_at:
        return LogBreak.CLOCK_BEHIND
    return None


def check_continuity(
    engine: Engine,
    pump_id: int,
    status: PumpStatus,
    *,
    actor: Actor,
    now: datetime,
    client: ProgrammerClient | None = None,
) -> tuple[str, ...]:
    """Check the pump that answered ``status``; re-baseline its log if it restarted. Returns warnings.

    Runs its own short transactions and no device exchange inside one: with ``client`` the entry
    stored last is read back from the pump (one ``LOG_READ`` of one entry) between them.

    Raises:
        NotFoundError: no pump with that id.
        ConflictError: a different pump answered, or the pump was explanted (nothing stored).
        DeviceError: reading the pump's entry back failed.
    """
    with transaction(engine) as session:
        pump = _pump(session, pump_id)
        check_active(session, pump)
        check_identity(pump, status)
        before = stored_log(session, pump)
    held = _held_entry(client, before, status) if client is not None else None
    with transaction(engine) as session:
        pump = _pump(session, pump_id, for_update=True)
        stored = stored_log(session, pump)
        if stored.epoch != before.epoch:
            return ()  # another station re-baselined it meanwhile: its new epoch is the baseline
        same_newest = (stored.newest.id if stored.newest else None) == (before.newest.id if before.newest else None)
        why = find_break(stored, status, held if same_newest else None)
        if why is None:
            return _clock_warnings(pump, stored, status)
        return (_rebaseline(session, pump, stored, status, why, actor=actor, now=now),)


def _held_entry(client: ProgrammerClient, stored: StoredLog, status: PumpStatus) -> DeviceLogEntry | None:
    """The entry the pump holds at the newest stored index, if it still holds that index."""
    newest = stored.newest
    if newest is None or newest.log_index is None:
        return None
    if not status.log.first <= newest.log_index < status.log.next:
        return None  # overwritten since, or past the end (then the log is behind anyway)
    page = client.read_log(newest.log_index, limit=1)
    return page.entries[0] if page.entries else None


def _clock_warnings(pump: Pump, stored: StoredLog, status: PumpStatus) -> tuple[str, ...]:
    latest = stored.newest_device_time_at
    if latest is None or status.clock_at >= latest:
        return ()
    return (
        f"pump_clock_behind: pump {pump.serial}'s clock reads {status.clock_at.isoformat()}, before its "
        f"newest log entry ({latest.isoformat()}); its log continues, but set its clock",
    )


def _rebaseline(
    session: Session,
    pump: Pump,
    stored: StoredLog,
    status: PumpStatus,
    why: LogBreak,
    *,
    actor: Actor,
    now: datetime,
) -> str:
    """Start a new log epoch for ``pump``, on the record; returns the nurse's warning."""
    pump.log_epoch = stored.epoch + 1
    # No version bump: a new log epoch changes nothing a refill is planned from, and a visit that
    # planned before linking must still commit its plan after the re-baseline.
    pump.updated_at, pump.updated_by = now, actor.user
    session.add(pump)
    newest_time = stored.newest_device_time_at.isoformat() if stored.newest_device_time_at is not None else None
    session.add(
        DeviceLogRecord(
            pump_id=_id_of(pump),
            source="service",
            log_epoch=pump.log_epoch,
            entry_type="LOG_REBASELINED",
            device_time_at=status.clock_at,
            recorded_at=now,
            data={
                "reason": why.value,
                "previous_epoch": stored.epoch,
                "epoch": pump.log_epoch,
                "previous_cursor": stored.cursor,
                "log_first": status.log.first,
                "log_next": status.log.next,
                "pump_clock": status.clock_at.isoformat(),
                "newest_stored_device_time": newest_time,
                "station_time": now.isoformat(),
            },
            actor=actor.user,
            station_id=actor.station_id,
        )
    )
    session.flush()
    return (
        f"log_rebaselined: pump {pump.serial}'s log restarted ({why.value}: {stored.cursor} entries were "
        f"stored, the pump's log now ends at index {status.log.next}, its clock reads "
        f"{status.clock_at.isoformat()}); a reset or a new board: check the pump's settings, the "
        "new log is stored from its start and the earlier history is kept"
    )


def _pump(session: Session, pump_id: int, *, for_update: bool = False) -> Pump:
    query = select(Pump).where(Pump.id == pump_id)
    if for_update:
        query = query.with_for_update()
    pump = session.exec(query).first()
    if pump is None:
        raise NotFoundError(f"no pump with id {pump_id}")
    return pump


def _id_of(pump: Pump) -> int:
    if pump.id is None:
        raise NotFoundError(f"pump {pump.serial} is not stored yet")
    return pump.id
