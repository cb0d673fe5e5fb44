from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pump_service.domain.calendar import ClinicCalendar, choose_slot
from pump_service.errors import RuleViolationError

NY = ZoneInfo("America/New_York")
CAL = ClinicCalendar(zone=NY, capacity_per_day=2, slot_minutes=60)
MONDAY = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # 07:00 in New York


def test_books_the_target_day_when_it_is_a_working_day_with_room() -> None:
    choice = choose_slot(CAL, target_at=MONDAY + timedelta(days=3), latest_at=None, now=MONDAY, used_slots={})
    assert (choice.day, choice.slot_index, choice.on_time) == (date(2026, 11, 5), 0, True)
    assert choice.starts_at == datetime(2026, 11, 5, 13, 0, tzinfo=UTC)  # 08:00 EST


def test_a_weekend_target_moves_to_the_friday_before() -> None:
    saturday = MONDAY + timedelta(days=5)
    assert choose_slot(CAL, target_at=saturday, latest_at=None, now=MONDAY, used_slots={}).day == date(2026, 11, 6)


def test_a_holiday_or_a_full_day_moves_the_booking_earlier_never_later() -> None:
    target = MONDAY + timedelta(days=3)
    holiday = ClinicCalendar(zone=NY, capacity_per_day=2, slot_minutes=60, holidays=frozenset({date(2026, 11, 5)}))
    assert choose_slot(holiday, target_at=target, latest_at=None, now=MONDAY, used_slots={}).day == date(2026, 11, 4)
    full = {date(2026, 11, 5): {0, 1}, date(2026, 11, 4): {0}}
    choice = choose_slot(CAL, target_at=target, latest_at=None, now=MONDAY, used_slots=full)
    assert (choice.day, choice.slot_index) == (date(2026, 11, 4), 1)


def test_never_after_the_alarm_instant() -> None:
    # Target Thursday, alarm Thursday 07:00 local: Thursday's 08:00 slot is too late.
    alarm = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    choice = choose_slot(CAL, target_at=alarm, latest_at=alarm, now=MONDAY, used_slots={})
    assert choice.day == date(2026, 11, 4)
    assert choice.starts_at <= alarm


def test_no_room_in_time_books_the_earliest_later_slot_and_says_so() -> None:
    target = MONDAY + timedelta(days=1)
    full = {date(2026, 11, 2): {0, 1}, date(2026, 11, 3): {0, 1}}
    choice = choose_slot(CAL, target_at=target, latest_at=target + timedelta(days=1), now=MONDAY, used_slots=full)
    assert (choice.day, choice.on_time) == (date(2026, 11, 4), False)
    assert choice.reason == "no free slot before the alarm date"


def test_an_overdue_pump_gets_the_first_free_slot_from_now() -> None:
    afternoon = MONDAY + timedelta(hours=6)  # 13:00 local: the 08:00-12:00 slots are gone
    roomy = ClinicCalendar(zone=NY, capacity_per_day=8, slot_minutes=60)
    choice = choose_slot(roomy, target_at=MONDAY - timedelta(days=2), latest_at=None, now=afternoon, used_slots={})
    assert (choice.day, choice.slot_index, choice.on_time) == (date(2026, 11, 2), 5, False)
    assert choice.reason == "already overdue"


@pytest.mark.parametrize(
    ("opens", "day", "expected_utc"),
    [
        pytest.param(time(2, 30), date(2026, 3, 8), datetime(2026, 3, 8, 7, 30, tzinfo=UTC), id="spring-gap"),
        pytest.param(time(1, 30), date(2026, 11, 1), datetime(2026, 11, 1, 5, 30, tzinfo=UTC), id="autumn-fold"),
        pytest.param(time(8, 0), date(2026, 7, 1), datetime(2026, 7, 1, 12, 0, tzinfo=UTC), id="summer"),
    ],
)
def test_slot_times_across_daylight_saving_changes(opens: time, day: date, expected_utc: datetime) -> None:
    calendar = ClinicCalendar(zone=NY, working_days=frozenset(range(7)), opens=opens, closes=time(20, 0))
    assert calendar.slot_start(day, 0) == expected_utc


def test_impossible_calendars_are_refused() -> None:
    with pytest.raises(RuleViolationError, match="close after it opens"):
        ClinicCalendar(zone=NY, opens=time(16, 0), closes=time(8, 0))
    with pytest.raises(RuleViolationError, match="exceeds"):
        ClinicCalendar(zone=NY, capacity_per_day=100)
    with pytest.raises(RuleViolationError, match="weekday"):
        ClinicCalendar(zone=NY, working_days=frozenset({7}))
