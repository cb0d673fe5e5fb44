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


def _ignore(_day: float) -> None:
    """The disabled bar: the engine calls it all the same."""


@contextmanager
def progress_bar(
    total_days: float, *, enabled: bool = True, console: Console | None = None
) -> Iterator[Callable[[float], None]]:
    """A callable to report the virtual day reached, drawing a bar while the ``with`` block runs.

    Days past ``total_days`` are shown as ``total_days``, and a day earlier than one already
    reported does not move the bar back (the clock only goes forward; a late report is stale).
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
    reached = 0.0

    def advance(day: float) -> None:
        nonlocal reached
        if day > reached:
            reached = min(day, total_days)
            progress.update(task, completed=reached)

    with progress:
        yield advance
