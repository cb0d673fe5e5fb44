"""Who the scheduler's changes are attributed to: the system, at this station, in the clock's time.

A tick or a dispatch runs on APScheduler's worker thread, where no request or command has set
an actor; without this the audit trail would still attribute its changes to the system, but
with an unknown station and a note saying no actor was set.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from pump_service.services.actor import SYSTEM_USER, Actor, acting_as
from pump_service.services.audit import audit_clock
from pump_service.settings import Settings
from schemas.clock import Clock

__all__ = ["as_scheduler"]


@contextmanager
def as_scheduler(settings: Settings, clock: Clock) -> Iterator[Actor]:
    """Attribute the changes made inside the block to the system actor of ``settings.station_id``."""
    with acting_as(Actor(user=SYSTEM_USER, station_id=settings.station_id)) as actor, audit_clock(clock):
        yield actor
