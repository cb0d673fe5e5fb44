"""Who performs a state change, in which role and from which station; every write carries one.

The acting ``Actor`` of a request or command is also kept in a context variable
(``acting_as``), so the audit trail can attribute every row a transaction changes without each
use case passing it down.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from pump_service.domain.access import Role
from pump_service.errors import RuleViolationError

__all__ = ["SYSTEM_USER", "Actor", "acting_as", "current_actor"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")

SYSTEM_USER = "system"  # the scheduler and migrations: changes no person made


@dataclass(frozen=True, slots=True)
class Actor:
    """A user id (not a name), the role it acted in, and a station id: short tokens safe to log.

    ``role`` is None only for the system itself and for console commands run on the station
    before any account exists.
    """

    user: str
    station_id: str
    role: Role | None = None

    def __post_init__(self) -> None:
        for field, value in (("actor", self.user), ("station", self.station_id)):
            if not _NAME.match(value):
                raise RuleViolationError(f"{field} must be 1-64 letters, digits or ._@:- (got {value!r})", field=field)


_current: ContextVar[Actor | None] = ContextVar("pump_service_actor", default=None)


def current_actor() -> Actor | None:
    """The actor of the request or command being served, if one was set."""
    return _current.get()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Attribute every change made inside the block to ``actor``."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
