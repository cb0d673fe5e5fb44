"""The clinic score in the terminal: the headline figures, every incident explained, the faults.

Rendered with rich. Every cell is a ``rich.text.Text``, never a markup string, so a serial or a
detail holding ``[bold]`` is printed as typed instead of being read as rich markup.
"""

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from testbench.report_headline import Verdict, format_day, headline_rows, run_summary
from testbench.score import ClinicScore, IncidentKind

__all__ = ["print_score", "score_lines"]

_VERDICT_STYLE = {Verdict.MET: "green", Verdict.MISSED: "bold red", Verdict.NOT_JUDGED: "dim"}
_LINES_WIDTH = 240  # wide enough that score_lines never wraps a detail in the middle of a word


def _headline_table(score: ClinicScore) -> Table:
    table = Table(title="Clinic score", caption=Text(run_summary(score)), title_justify="left", caption_justify="left")
    table.add_column("figure")
    table.add_column("value")
    table.add_column("target")
    table.add_column("verdict")
    for row in headline_rows(score):
        verdict = "" if row.verdict is Verdict.NOT_JUDGED else row.verdict.value
        table.add_row(
            Text(row.label), Text(row.value), Text(row.target), Text(verdict, style=_VERDICT_STYLE[row.verdict])
        )
    return table


def _incidents_table(score: ClinicScore) -> Table:
    table = Table(
        title=f"Incidents ({len(score.incidents):,}): every alarm and dry pump explained", title_justify="left"
    )
    table.add_column("serial", overflow="fold")  # folded, never cut: a serial names the pump
    table.add_column("kind", no_wrap=True, min_width=max(len(kind.value) for kind in IncidentKind))
    table.add_column("day", justify="right")
    table.add_column("cause", overflow="fold")
    table.add_column("detail", overflow="fold")
    for incident in sorted(score.incidents, key=lambda item: (item.at_day, item.serial)):
        table.add_row(
            Text(incident.serial),
            Text(incident.kind.value),
            Text(format_day(incident.at_day)),
            Text(incident.cause.value),
            Text(incident.detail),
        )
    return table


def _faults_table(score: ClinicScore) -> Table:
    table = Table(title=f"Injected faults ({len(score.faults):,})", title_justify="left")
    table.add_column("serial", overflow="fold")
    table.add_column("fault", overflow="fold")
    for name in ("injected day", "detected day", "days to detect"):
        table.add_column(name, justify="right")
    table.add_column("findings (or why none)", overflow="fold")
    for fault in sorted(score.faults, key=lambda item: (item.injected_day, item.serial)):
        if fault.detected_day is None:
            detected, delay = Text("never", style="bold red"), Text("—")
        else:
            detected = Text(format_day(fault.detected_day))
            delay = Text(format_day(fault.detected_day - fault.injected_day))
        table.add_row(
            Text(fault.serial),
            Text(fault.kind),
            Text(format_day(fault.injected_day)),
            detected,
            delay,
            Text(", ".join(fault.finding_codes) if fault.detected_day is not None else fault.explanation),
        )
    return table


def print_score(score: ClinicScore, console: Console) -> None:
    """Print the headline table, then the incidents, then the injected faults (a line when there are none)."""
    console.print(_headline_table(score))
    if score.incidents:
        console.print(_incidents_table(score))
    else:
        console.print(Text("Incidents: none. No pump reached its alarm or ran dry."))
    if score.faults:
        console.print(_faults_table(score))
    else:
        console.print(Text("Injected faults: none."))


def score_lines(score: ClinicScore, *, width: int = _LINES_WIDTH) -> list[str]:
    """The printed report as plain text lines (no colour, fixed width): what a log or a test reads."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, no_color=True)
    print_score(score, console)
    return [line.rstrip() for line in buffer.getvalue().splitlines()]
