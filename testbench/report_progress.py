"""A progress bar over virtual days while a clinic runs: how far the clock got, and how long is left.

The engine advances event to event, so it reports the virtual day it reached rather than a count
of steps; the bar is in days. When stdout is not a terminal (a CI log, a pipe) rich draws no live
bar and prints nothing per update, so the run's output stays readable.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["progress_bar"]

# The engine reports every event (hundreds of thousands in a clinic-year); a rich update costs a
# few µs, so the bar moves only when the day gained is at least this share of the run: a step no
# terminal can show, and the cost of a report drops to a comparison.
_STEP_FRACTION = 1 / 2000


def _ignore(_day: float) -> None:
    """The disabled bar: the engine calls it all the same."""


@contextmanager
def progress_bar(
    total_days: float, *, enabled: bool = True, console: Console | None = None
) -> Iterator[Callable[[float], None]]:
    """A callable to report the virtual day reached, drawing a bar while the ``with`` block runs.

    Days past ``total_days`` are shown as ``total_days``, and a day earlier than one already
    reported does not move the bar back (the clock only goes forward; a late report is stale).
    The bar moves in steps of 1/2000 of the run. When the block ends the bar is full (the last event
    may fall before the last day); when it raises, the bar stays at the last day reported.
    ``console`` defaults to rich's console on stdout; tests pass one writing to a buffer.

    Raises:
        ValueError: ``total_days`` is not a positive number.
    """
    if not total_days > 0:
        raise ValueError(f"total_days must be positive, got {total_days!r}")
    if not enabled:
        yield _ignore
        return
    progress = Progress(
        TextColumn("clinic"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("day {task.completed:,.0f}/{task.total:,.0f}"),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("remaining"),
        TimeRemainingColumn(),
        console=console,
    )
    task = progress.add_task("clinic", total=total_days)
    step = total_days * _STEP_FRACTION
    shown = reached = 0.0

    def advance(day: float) -> None:
        nonlocal shown, reached
        reached = max(reached, min(day, total_days))
        if reached >= shown + step or reached >= total_days > shown:
            shown = reached
            progress.update(task, completed=shown)

    with progress:
        try:
            yield advance
        except BaseException:
            progress.update(task, completed=reached)  # where the run broke off, to the last report
            raise
        progress.update(task, completed=total_days)  # the run is over: its last event may come before the last day
