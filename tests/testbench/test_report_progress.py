"""The progress bar: it follows the virtual day forward, and costs nothing when disabled."""

import io

import pytest
from rich.console import Console

from testbench.report_progress import progress_bar


def _run(days: list[float], *, terminal: bool, enabled: bool = True, total: float = 90) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=120, color_system=None)
    with progress_bar(total, enabled=enabled, console=console) as advance:
        for day in days:
            advance(day)
    return buffer.getvalue()


def test_the_bar_advances_to_the_day_reached() -> None:
    output = _run([0.5, 12.25, 45.0], terminal=True)
    assert "day 45/90" in output
    assert "day 0/90" in output  # where it started
    assert " 50%" in output
    assert "elapsed" in output
    assert "remaining" in output


def test_the_bar_reaches_the_end_and_stops_there() -> None:
    output = _run([30.0, 90.0, 120.0], terminal=True)
    assert "day 90/90" in output
    assert "100%" in output
    assert "120" not in output


def test_a_late_report_of_an_earlier_day_does_not_move_the_bar_back() -> None:
    output = _run([60.0, 30.0], terminal=True)
    assert "day 60/90" in output
    assert "day 30/90" not in output


def test_without_a_terminal_the_bar_prints_only_where_it_ended() -> None:
    output = _run([float(day) for day in range(1, 61)], terminal=False)
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


def test_reports_closer_than_a_visible_step_do_not_redraw_but_the_end_is_shown() -> None:
    output = _run([45.0, 45.01, 89.999, 90.0], terminal=True)
    assert "day 90/90" in output
    output = _run([10.0, 10.6], terminal=True, total=2000)
    assert "day 10/2,000" in output
    assert "day 11/2,000" not in output  # 0.6 d is under 1/2000 of the run: the bar stays where it was
