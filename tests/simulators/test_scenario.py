import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.scenario import SCENARIO_DIR, ScenarioError, load_scenario, parse_scenario
from simulators.scenario_run import run_scenario


def _minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "t",
        "start": "2026-03-02T08:00:00Z",
        "duration": "14 d",
        "pump": {"model": "hai-30", "unit_factor": 1.0},
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("path", sorted(SCENARIO_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_bundled_scenario_loads_and_runs_deterministically(path: Path) -> None:
    first = run_scenario(load_scenario(path))
    second = run_scenario(load_scenario(path.stem))
    assert first.samples == second.samples
    assert first.events == second.events
    assert first.samples[-1].at == first.scenario.start + first.scenario.duration


def test_the_worked_hai_scenario() -> None:
    run = run_scenario(load_scenario("hai-fever-and-flight"))
    # 14 days with a 3-day fever (x1.2646) and a 6-hour flight (x1.6306): 10.75 + 3.794 + 0.408 mL delivered
    first = run.refills[0]
    assert first.true_residual_ml == pytest.approx(30.0 - (10.75 + 3 * 1.26461 + 0.25 * 1.63060), abs=1e-3)
    assert first.measured_residual_ml == 14.5  # 95 % aspirated, read to 0.5 mL
    assert run.events == ()


def test_the_worked_intrathecal_scenario_alarms_before_the_late_refill() -> None:
    run = run_scenario(load_scenario("intrathecal-late-refill"))
    start = run.scenario.start
    raised = [(at - start, what) for at, what in run.events if what.startswith("ALARM_RAISED")]
    assert [what for _, what in raised] == ["ALARM_RAISED LOW_RESERVOIR", "ALARM_RAISED EMPTY_RESERVOIR"]
    # 20 ppm fast pump clock: about 62 s ahead after 36 days
    assert raised[0][0] - timedelta(days=36) == pytest.approx(timedelta(seconds=62.208), abs=timedelta(seconds=0.01))


def test_parsing_decoded_json_equals_loading_the_file() -> None:
    data = json.loads((SCENARIO_DIR / "hai-fever-and-flight.json").read_text())
    assert parse_scenario(data) == load_scenario("hai-fever-and-flight")
    scenario = parse_scenario(data)
    assert len(scenario.timeline.episodes) == 2
    assert scenario.refills[1].relative_viscosity == 4.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_minimal(duration="14 mL"), r"scenario\.duration: expected a \[time\] quantity"),
        (_minimal(colour="red"), r"scenario: unknown field\(s\) colour"),
        (_minimal(pump={"model": "nope"}), r"scenario\.pump\.model: unknown pump model 'nope'"),
        (_minimal(start="2026-03-02T08:00:00"), r"scenario\.start: start must carry a UTC offset"),
        (
            _minimal(episodes=[{"kind": "fever", "at": "1 d", "for": "1 d", "body_temperature": "39 kg"}]),
            r"scenario\.episodes\[0\]\.body_temperature: expected a \[temperature\] quantity",
        ),
        (
            _minimal(faults=[{"kind": "meteor", "at": "1 d"}]),
            r"scenario\.faults\[0\]: unknown fault kind 'meteor'",
        ),
        (_minimal(pump={"model": "programmable-20"}), r"scenario\.pump: a programmable pump needs a prescription"),
        (_minimal(pump={"model": "hai-30", "fill": "31 mL"}), r"scenario\.pump\.fill: fill must be within"),
        (_minimal(episodes=[{"kind": "x", "at": "1 d", "for": "1 d"}]), r"episodes\[0\]: episode 'x' changes nothing"),
    ],
)
def test_bad_scenarios_name_the_offending_value(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_unreadable_files_are_scenario_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ScenarioError, match="not JSON"):
        load_scenario(broken)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")
