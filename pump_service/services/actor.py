"""Who performs a state change and from which station; every write carries one."""

import re
from dataclasses import dataclass

from pump_service.errors import RuleViolationError

__all__ = ["Actor"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Actor:
    """A user id (not a name) and a station id, both short tokens safe to log."""

    user: str
    station_id: str

    def __post_init__(self) -> None:
        for field, value in (("actor", self.user), ("station", self.station_id)):
            if not _NAME.match(value):
                raise RuleViolationError(f"{field} must be 1-64 letters, digits or ._@- (got {value!r})", field=field)
