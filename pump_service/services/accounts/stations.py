"""Registered refill stations: which clinic each serves and which programmer port the server opens.

No request names a device URL; a request acts through its principal's station. A ``sim://``
programmer is allowed only on a station registered as a test bench, and what is recorded through
it is marked simulated.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from pump_service.devices import check_programmer_url, is_simulated
from pump_service.domain.access import Role
from pump_service.errors import ConflictError, NotFoundError, PermissionDeniedError, RuleViolationError
from pump_service.persistence.account_models import StationRow
from pump_service.persistence.schedule_models import Clinic

__all__ = [
    "StationRecord",
    "disable_station",
    "is_simulated_url",
    "list_stations",
    "register_station",
    "station_of",
    "usable_station",
]


# The same token rule as an Actor's station id (services/actor.py).
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")


@dataclass(frozen=True, slots=True)
class StationRecord:
    id: str
    clinic_id: str
    programmer_url: str
    is_test_bench: bool
    label: str
    disabled: bool

    @property
    def simulated(self) -> bool:
        """Whether its programmer is the simulator (what it records never reached a real pump)."""
        return is_simulated_url(self.programmer_url)


def is_simulated_url(url: str) -> bool:
    return is_simulated(url)


def _record(row: StationRow) -> StationRecord:
    return StationRecord(
        id=row.id,
        clinic_id=row.clinic_id,
        programmer_url=row.programmer_url,
        is_test_bench=row.is_test_bench,
        label=row.label,
        disabled=row.disabled_at is not None,
    )


def register_station(
    session: Session,
    station_id: str,
    *,
    clinic_id: str,
    programmer_url: str,
    is_test_bench: bool = False,
    label: str = "",
    now: datetime,
    created_by: str,
) -> StationRecord:
    """Register a station of an existing clinic.

    Raises:
        RuleViolationError: a bad id or label, a URL no transport opens, or ``sim://`` on a station
            that is not a test bench.
        NotFoundError: no such clinic.
        ConflictError: the id is taken.
    """
    if not _ID.match(station_id):
        raise RuleViolationError("a station id is 1-64 letters, digits or ._@:-", field="station_id")
    check_programmer_url(programmer_url)
    if is_simulated_url(programmer_url) and not is_test_bench:
        raise RuleViolationError(
            "a sim:// programmer is allowed only on a station registered as a test bench", field="programmer_url"
        )
    if len(label) > 100:
        raise RuleViolationError("a label has at most 100 characters", field="label")
    if session.exec(select(Clinic.id).where(Clinic.clinic_id == clinic_id)).first() is None:
        raise NotFoundError(f"no clinic {clinic_id!r}")
    if session.get(StationRow, station_id) is not None:
        raise ConflictError(f"station {station_id!r} exists")
    row = StationRow(
        id=station_id,
        clinic_id=clinic_id,
        programmer_url=programmer_url,
        is_test_bench=is_test_bench,
        label=label,
        created_at=now,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return _record(row)


def list_stations(session: Session, *, include_disabled: bool = True) -> Sequence[StationRecord]:
    query = select(StationRow).order_by(col(StationRow.id))
    if not include_disabled:
        query = query.where(col(StationRow.disabled_at).is_(None))
    return [_record(row) for row in session.exec(query).all()]


def station_of(session: Session, station_id: str) -> StationRecord:
    """The registered station ``station_id`` (enabled or not).

    Raises:
        NotFoundError: no such station.
    """
    row = session.get(StationRow, station_id)
    if row is None:
        raise NotFoundError(f"no station {station_id!r}")
    return _record(row)


def usable_station(session: Session, station_id: str, role: Role | None = None) -> StationRecord:
    """The station a request acts through: registered and enabled, and a test bench for a bench account.

    A bench account (test benches, integrations) may prescribe: through a real station's programmer
    that would reprogram a patient's pump with no clinician signed in.

    Raises:
        PermissionDeniedError: unknown or disabled, or ``role`` is bench and the station is not a
            test bench (the principal may not act from it).
    """
    row = session.get(StationRow, station_id)
    if row is None or row.disabled_at is not None:
        raise PermissionDeniedError(f"station {station_id!r} is not registered or is disabled")
    if role is Role.BENCH and not row.is_test_bench:
        raise PermissionDeniedError(f"a bench account acts only through a test bench; {station_id!r} is not one")
    return _record(row)


def disable_station(session: Session, station_id: str, *, now: datetime) -> StationRecord:
    """Disable a station: its sessions and tokens stop acting through it.

    Raises:
        NotFoundError: no such station.
    """
    row = session.get(StationRow, station_id)
    if row is None:
        raise NotFoundError(f"no station {station_id!r}")
    if row.disabled_at is None:
        row.disabled_at = now
        session.add(row)
        session.flush()
    return _record(row)
