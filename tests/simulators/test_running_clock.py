from datetime import UTC, datetime, timedelta

import pytest

from simulators.running_clock import RunningClock
from tests.support import FixedClock

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def test_real_seconds_pass_between_jumps_and_a_jump_never_goes_back() -> None:
    real = FixedClock()
    clock = RunningClock(T0, real=real)
    real.advance(2.5)
    assert clock.now() == T0 + timedelta(seconds=2.5)
    assert clock.set(T0 + timedelta(days=3)) == T0 + timedelta(days=3)
    real.advance(1.0)
    assert clock.now() == T0 + timedelta(days=3, seconds=1)
    assert clock.set(T0 + timedelta(days=1)) == T0 + timedelta(days=3, seconds=1)  # already past it: stays
    assert clock.monotonic() == real.monotonic()


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        RunningClock(datetime(2026, 3, 2))  # noqa: DTZ001 - the naive value under test
