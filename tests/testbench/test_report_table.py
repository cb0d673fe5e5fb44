"""The terminal report: every headline figure, every incident and every fault, printed as typed."""

import io

from rich.console import Console

from testbench.report_headline import headline_rows
from testbench.report_table import print_score, score_lines
from tests.testbench.test_report_scores import HOSTILE_SERIAL, clean_score, clinic_score


def test_every_headline_figure_is_printed_with_its_target_and_verdict() -> None:
    score = clinic_score()
    lines = score_lines(score)
    for row in headline_rows(score):
        matching = [line for line in lines if row.label in line]
        assert len(matching) == 1, row.label
        assert row.value in matching[0]
        assert row.target in matching[0]
        assert row.verdict.value in matching[0] or row.verdict.name == "NOT_JUDGED"


def test_the_headline_states_the_figures_of_the_run() -> None:
    text = "\n".join(score_lines(clinic_score()))
    for figure in (
        "│ 3 ",  # alarms before refill
        "46 of 48 visits with one set; 1 missing; 1 duplicated",
        "67% (2 of 3)",  # detection rate
        "12.8 d",  # mean time to detection
        "9.7 (48 in 4.9 patient-years)",
        "74% (1 refill past the safe interval)",
        "3 (2 escalated)",
        "4.2 s",
        "427",  # pump-days per second
        "90 virtual days, 12 programmable and 8 constant-flow patients, seed 7, sqlite",
    ):
        assert figure in text


def test_every_incident_is_on_one_line_with_serial_kind_day_cause_and_detail() -> None:
    score = clinic_score()
    lines = score_lines(score)
    for incident in score.incidents:
        matching = [line for line in lines if incident.detail in line]
        assert len(matching) == 1, incident.detail
        line = matching[0]
        assert incident.serial in line
        assert incident.kind.value in line
        assert incident.cause.value in line
        assert f"{incident.at_day:.1f}" in line


def test_incidents_are_listed_in_the_order_they_happened() -> None:
    score = clinic_score()
    lines = score_lines(score)
    positions = [next(i for i, line in enumerate(lines) if incident.detail in line) for incident in score.incidents]
    by_day = [incident.at_day for _, incident in sorted(zip(positions, score.incidents, strict=True))]
    assert by_day == sorted(by_day)


def test_every_fault_is_listed_and_an_undetected_one_says_never() -> None:
    score = clinic_score()
    lines = score_lines(score)
    for fault in score.faults:
        cells = [fault.serial, fault.kind, f"{fault.injected_day:.1f}", ", ".join(fault.finding_codes)]
        if fault.detected_day is None:
            cells.append("never")
        else:
            cells += [f"{fault.detected_day:.1f}", f"{fault.detected_day - fault.injected_day:.1f}"]
        matching = [line for line in lines if all(f"│ {cell}" in line for cell in cells[:2]) and cells[2] in line]
        assert len(matching) == 1, fault
        assert all(cell in matching[0] for cell in cells)


def test_a_serial_holding_rich_markup_is_printed_as_typed() -> None:
    text = "\n".join(score_lines(clinic_score()))
    assert HOSTILE_SERIAL in text
    assert "forecast 3 days late <b>unexplained</b>" in text


def test_a_run_without_incidents_or_faults_says_so_in_a_line() -> None:
    lines = score_lines(clean_score())
    assert "Incidents: none. No pump reached its alarm or ran dry." in lines
    assert "Injected faults: none." in lines
    assert not any(line.startswith(("Incidents (", "Injected faults (")) for line in lines)
    assert any("none injected" in line for line in lines)


def test_print_score_writes_to_the_console_it_is_given_in_colour_on_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=200)
    print_score(clinic_score(), console)
    output = buffer.getvalue()
    assert "\x1b[1;31mmissed" in output  # a missed target in bold red
    assert "\x1b[32mmet" in output
    assert "Clinic score" in output


def test_in_a_narrow_terminal_serials_and_kinds_fold_but_are_never_cut() -> None:
    lines = score_lines(clinic_score(), width=80)
    assert max(len(line) for line in lines) <= 80
    assert not any("…" in line for line in lines)
    table = lines[lines.index(next(line for line in lines if line.startswith("Incidents (4)"))) :]
    serial_cells = "".join(line.split("│")[1].strip() for line in table if line.startswith("│"))
    assert HOSTILE_SERIAL in serial_cells  # folded over lines, every character kept
    assert "alarm_before_refill" in "\n".join(table)  # an incident's kind is one word: never folded
