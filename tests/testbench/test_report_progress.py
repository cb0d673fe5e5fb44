"""The progress bar: it follows the virtual day forward, and costs nothing when disabled."""

import io
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Progress, TaskID

from testbench.report_progress import progress_bar


def _run(days: list[float], *, terminal: bool, enabled: bool = True, total: float = 90) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=120, color_system=None)
    with progress_bar(total, enabled=enabled, console=console) as advance:
        for day in days:
            advance(day)
    return buffer.getvalue()


def test_the_bar_advances_with_the_days_reached_and_is_full_when_the_run_ends() -> None:
    output = _run([0.5, 12.25, 45.0, 89.4], terminal=True)
    assert "day 90/90" in output
    assert "100%" in output
    assert "day 0/90" in output  # where it started
    assert "elapsed" in output
    assert "remaining" in output


def test_the_bar_reaches_the_end_and_stops_there() -> None:
    output = _run([30.0, 90.0, 120.0], terminal=True)
    assert "day 90/90" in output
    assert "100%" in output
    assert "120" not in output


def _broken_run(days: list[float], *, terminal: bool = True, total: float = 90) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=120, color_system=None)

    def run() -> None:
        with progress_bar(total, console=console) as advance:
            for day in days:
                advance(day)
            raise RuntimeError("the engine broke off")

    with pytest.raises(RuntimeError, match="broke off"):
        run()
    return buffer.getvalue()


def test_a_run_that_breaks_off_leaves_the_bar_at_the_last_day_reported() -> None:
    output = _broken_run([12.25, 45.0])
    assert "day 45/90" in output
    assert " 50%" in output
    assert "day 90/90" not in output


def test_a_late_report_of_an_earlier_day_does_not_move_the_bar_back() -> None:
    output = _broken_run([60.0, 30.0])
    assert "day 60/90" in output
    assert "day 30/90" not in output


def test_without_a_terminal_the_bar_prints_only_where_it_ended() -> None:
    output = _broken_run([float(day) for day in range(1, 61)], terminal=False)
    assert output.count("day ") == 1
    assert "day 60/90" in output
    assert "\x1b" not in output  # no cursor movement in a log


def test_a_disabled_bar_is_a_no_op() -> None:
    assert _run([10.0, 90.0], terminal=True, enabled=False) == ""


def test_the_default_console_does_not_break_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(3) as advance:
        for day in (1.0, 2.0, 3.0):
            advance(day)
    assert "day 3/3" in capsys.readouterr().out


@pytest.mark.parametrize("total", [0.0, -1.0, float("nan")])
def test_a_run_must_last_some_days(total: float) -> None:
    with pytest.raises(ValueError, match="positive"), progress_bar(total):
        pass


def test_reports_closer_than_a_visible_step_do_not_reach_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    updates: list[float | None] = []
    real_update = Progress.update

    def counting_update(self: Progress, task_id: TaskID, **fields: Any) -> None:
        updates.append(fields.get("completed"))
        real_update(self, task_id, **fields)

    monkeypatch.setattr(Progress, "update", counting_update)
    _run([10 + i / 1000 for i in range(1000)], terminal=True, total=2000)  # a thousand events within one day
    assert updates == [10.0, 2000.0]  # the first report, then the full bar at the end: 1 day is under 1/2000 of 2000
