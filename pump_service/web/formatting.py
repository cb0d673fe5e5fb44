"""How pages show times: clinic-local, labelled with the zone (times are UTC inside)."""

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["local_time"]


def local_time(zone: ZoneInfo) -> Callable[[datetime | None], str]:
    """A formatter of aware times in ``zone`` for templates (``—`` for None)."""

    def show(at: datetime | None) -> str:
        return "—" if at is None else f"{at.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"

    return show
