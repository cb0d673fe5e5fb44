"""The search for one booking's slot: the on-time window first, then later days four weeks at a time.

It reads only the days it can use (a clinic's booked slots by (clinic_id, local_day)), so a
booking costs the same with ten thousand later bookings as with none; the choice itself is the
calendar's (:mod:`pump_service.domain.calendar`).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from pump_service.domain.calendar import (
    SEARCH_AHEAD_DAYS,
    BookingChoice,
    ClinicCalendar,
    choose_late_slot,
    choose_on_time_slot,
    late_search_start,
    on_time_window,
)
from pump_service.errors import RuleViolationError
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus

__all__ = ["LATE_SEARCH_DAYS", "SlotSearch", "used_slots"]

LATE_SEARCH_DAYS = 28  # a late booking (the clinic is full until the deadline) reads ahead four weeks at a time


def used_slots(session: Session, clinic_id: int, first_day: date, last_day: date) -> dict[date, set[int]]:
    """The booked slot indices of the clinic's days ``first_day``..``last_day`` (the only days a search uses)."""
    used: dict[date, set[int]] = defaultdict(set)
    if last_day < first_day:
        return used
    rows = session.exec(
        select(col(Appointment.local_day), col(Appointment.slot_index)).where(
            Appointment.clinic_id == clinic_id,
            col(Appointment.local_day) >= first_day,
            col(Appointment.local_day) <= last_day,
            Appointment.status == AppointmentStatus.BOOKED,
        )
    ).all()
    for day, index in rows:
        used[day].add(index)
    return used


@dataclass(frozen=True, slots=True)
class SlotSearch:
    """One booking's search: the clinic, its calendar, what it aims at and the slots it must not take.

    ``busy``: slots found taken by another booking while this one searched (they are skipped when
    the search runs again); the calendar's booked slots are read once per window.
    """

    clinic_id: int
    calendar: ClinicCalendar
    target_at: datetime
    latest_at: datetime | None
    now: datetime
    avoid: tuple[date, int] | None
    avoid_day: date | None
    busy: set[tuple[date, int]] = field(default_factory=set)
    _read: dict[tuple[date, date], dict[date, set[int]]] = field(default_factory=dict)

    def used_between(self, session: Session, first_day: date, last_day: date) -> dict[date, set[int]]:
        window = (first_day, last_day)
        if window not in self._read:
            self._read[window] = used_slots(session, self.clinic_id, first_day, last_day)
        used: dict[date, set[int]] = defaultdict(set, {day: set(s) for day, s in self._read[window].items()})
        for day, index in self.busy:
            used[day].add(index)
        if self.avoid is not None:  # the slot just given up is not offered back
            used[self.avoid[0]].add(self.avoid[1])
        if self.avoid_day is not None:  # the patient asked for another day: every slot of this one is taken
            used[self.avoid_day] = set(range(self.calendar.capacity_per_day))
        return used

    def choose(self, session: Session) -> BookingChoice:
        """The slot of :func:`choose_slot`, reading only the days it looks at: the on-time window first.

        Raises:
            RuleViolationError: no free slot in the coming year.
        """
        calendar, target_at, latest_at, now = self.calendar, self.target_at, self.latest_at, self.now
        first, last = on_time_window(calendar, target_at=target_at, latest_at=latest_at, now=now)
        on_time = choose_on_time_slot(
            calendar,
            target_at=target_at,
            latest_at=latest_at,
            now=now,
            used_slots=self.used_between(session, first, last),
        )
        if on_time is not None:
            return on_time
        start = late_search_start(calendar, target_at=target_at, latest_at=latest_at, now=now)
        for offset in range(0, SEARCH_AHEAD_DAYS, LATE_SEARCH_DAYS):
            days = min(LATE_SEARCH_DAYS, SEARCH_AHEAD_DAYS - offset)
            window_start = start + timedelta(days=offset)
            late = choose_late_slot(
                calendar,
                target_at=target_at,
                latest_at=latest_at,
                now=now,
                used_slots=self.used_between(session, window_start, window_start + timedelta(days=days - 1)),
                first_day=window_start,
                days=days,
            )
            if late is not None:
                return late
        raise RuleViolationError("no free slot in the coming year", field="capacity_per_day")
