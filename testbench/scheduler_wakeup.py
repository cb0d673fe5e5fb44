"""When the scheduler next has something to decide, so the clock can jump straight there.

The service keeps each booked appointment's next decision moment in an indexed column
(``appointment.next_decision_at``, see ``services/scheduling/decision_due.py``) and answers with
:func:`next_decision_time` in two indexed reads. A moment at or before the last tick means a
decision only a tick can place (or one due at once): the loop then ticks at the next step of its
grid, and that tick writes the exact moment.
"""

from datetime import datetime

from sqlalchemy import Engine

from pump_service.persistence.db import read_transaction
from pump_service.services.scheduling.notifications import next_decision_time

__all__ = ["scheduler_wakeup"]


def scheduler_wakeup(engine: Engine, *, after: datetime) -> datetime | None:
    """The earliest moment a pending decision becomes due; at or before ``after`` means "tick next"."""
    with read_transaction(engine) as session:
        first = next_decision_time(session)
    if first is None:
        return None
    return max(first, after)
