"""The clinic calendar and where a refill appointment goes in it.

Rule: book the *latest* working day with a free slot that is no later than the target date (the
due date), and never with a slot after the alarm/empty instant; booking late in the window keeps
the refill interval long, booking early keeps the pump safe. If no such slot exists (the clinic
is full, or the target is already past), book the earliest free slot after it and say so: the
caller escalates. Days are clinic-local dates; instants are aware UTC.
"""

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pump_service.domain.timespan import require_aware
from pump_service.errors import RuleViolationError

__all__ = [
    "BookingChoice",
    "ClinicCalendar",
    "choose_late_slot",
    "choose_on_time_slot",
    "choose_slot",
    "late_search_start",
    "on_time_window",
]

SEARCH_AHEAD_DAYS = 366


@dataclass(frozen=True)
class ClinicCalendar:
    """Zone, working weekdays (0 = Monday), opening hours, slot length, daily capacity, holidays."""

    zone: ZoneInfo
    working_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    opens: time = time(8, 0)
    closes: time = time(16, 0)
    slot_minutes: int = 30
    capacity_per_day: int = 16
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.working_days or not self.working_days <= set(range(7)):
            raise RuleViolationError("working days are weekday numbers 0-6, at least one", field="working_days")
        if self.closes <= self.opens:
            raise RuleViolationError("the clinic must close after it opens", field="closes_at")
        if self.slot_minutes <= 0 or self.capacity_per_day <= 0:
            raise RuleViolationError("slot length and capacity must be positive", field="capacity_per_day")
        if self.capacity_per_day > self.slots_per_day:
            raise RuleViolationError(
                f"capacity {self.capacity_per_day} exceeds the {self.slots_per_day} slots the hours allow",
                field="capacity_per_day",
            )

    @property
    def slots_per_day(self) -> int:
        minutes = (datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)).seconds // 60
        return minutes // self.slot_minutes

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.working_days and day not in self.holidays

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def slot_start(self, day: date, index: int) -> datetime:
        """UTC start of slot ``index`` on local ``day``; a wall time lost to a DST change moves forward."""
        local = datetime.combine(day, self.opens, tzinfo=self.zone) + timedelta(minutes=index * self.slot_minutes)
        utc = local.astimezone(UTC)
        if utc.astimezone(self.zone).replace(tzinfo=None) != local.replace(tzinfo=None):
            utc = (local + timedelta(hours=1)).astimezone(UTC)  # inside the spring-forward gap
        return utc

    def slot_end(self, day: date, index: int) -> datetime:
        return self.slot_start(day, index) + timedelta(minutes=self.slot_minutes)


@dataclass(frozen=True, slots=True)
class BookingChoice:
    day: date
    slot_index: int
    starts_at: datetime
    ends_at: datetime
    on_time: bool  # False: no slot before the target (or the alarm): escalate
    reason: str


def _first_free(calendar: ClinicCalendar, day: date, used: Set[int], not_before: datetime) -> int | None:
    """The earliest free slot on ``day`` that starts no earlier than ``not_before``."""
    if not calendar.is_working_day(day) or len(used) >= calendar.capacity_per_day:
        return None
    for index in range(calendar.capacity_per_day):
        if index not in used and calendar.slot_start(day, index) >= not_before:
            return index
    return None


def on_time_window(
    calendar: ClinicCalendar, *, target_at: datetime, latest_at: datetime | None, now: datetime
) -> tuple[date, date]:
    """The local days an on-time booking can use: from today to the day of the target (or the alarm).

    Empty (the last day before the first) when the deadline is already past.
    """
    deadline = min(target_at, latest_at) if latest_at is not None else target_at
    return calendar.local_day(now), calendar.local_day(deadline)


def choose_on_time_slot(
    calendar: ClinicCalendar,
    *,
    target_at: datetime,
    latest_at: datetime | None,
    now: datetime,
    used_slots: Mapping[date, Set[int]],
) -> BookingChoice | None:
    """The latest free slot no later than the target day and not after ``latest_at``; None if there is none.

    ``used_slots`` needs only the days of :func:`on_time_window`.
    """
    for value, name in ((target_at, "target_at"), (now, "now")):
        require_aware(value, name)
    today, day = on_time_window(calendar, target_at=target_at, latest_at=latest_at, now=now)
    while day >= today:
        index = _first_free(calendar, day, used_slots.get(day, frozenset()), now)
        if index is not None:
            start = calendar.slot_start(day, index)
            if latest_at is None or start <= latest_at:
                end = calendar.slot_end(day, index)
                return BookingChoice(day, index, start, end, True, "booked before the due date")
        day -= timedelta(days=1)
    return None


def late_search_start(
    calendar: ClinicCalendar, *, target_at: datetime, latest_at: datetime | None, now: datetime
) -> date:
    """The first day a late booking (no on-time slot) is looked for: the deadline's day, or today."""
    today, deadline_day = on_time_window(calendar, target_at=target_at, latest_at=latest_at, now=now)
    return max(today, deadline_day)


def choose_late_slot(
    calendar: ClinicCalendar,
    *,
    target_at: datetime,
    latest_at: datetime | None,
    now: datetime,
    used_slots: Mapping[date, Set[int]],
    first_day: date,
    days: int,
) -> BookingChoice | None:
    """The earliest free slot in ``days`` days from ``first_day``, marked late (the caller escalates)."""
    day = first_day
    for _ in range(days):
        index = _first_free(calendar, day, used_slots.get(day, frozenset()), now)
        if index is not None:
            start = calendar.slot_start(day, index)
            why = "no free slot before the due date" if target_at >= now else "already overdue"
            if latest_at is not None and start > latest_at:
                why = "no free slot before the alarm date"
            return BookingChoice(day, index, start, calendar.slot_end(day, index), False, why)
        day += timedelta(days=1)
    return None


def choose_slot(
    calendar: ClinicCalendar,
    *,
    target_at: datetime,
    latest_at: datetime | None,
    now: datetime,
    used_slots: Mapping[date, Set[int]],
) -> BookingChoice:
    """Where to book a refill aimed at ``target_at`` that must happen before ``latest_at``.

    ``used_slots`` maps a local day to the slot indices already booked there.

    Raises:
        RuleViolationError: naive datetimes, or no free slot within a year.
    """
    on_time = choose_on_time_slot(calendar, target_at=target_at, latest_at=latest_at, now=now, used_slots=used_slots)
    if on_time is not None:
        return on_time
    first = late_search_start(calendar, target_at=target_at, latest_at=latest_at, now=now)
    late = choose_late_slot(
        calendar,
        target_at=target_at,
        latest_at=latest_at,
        now=now,
        used_slots=used_slots,
        first_day=first,
        days=SEARCH_AHEAD_DAYS,
    )
    if late is None:
        raise RuleViolationError("no free slot in the coming year", field="capacity_per_day")
    return late
