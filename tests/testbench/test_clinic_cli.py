"""``pump-service bench clinic`` writes the score as JSON and HTML (needs REPORT's renderers)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pump_service.cli.app import app


def test_bench_clinic_writes_score_json_and_html(tmp_path: Path) -> None:
    pytest.importorskip("testbench.report_html", reason="the renderers land from the report branch")
    out = tmp_path / "out"
    args = ["bench", "clinic", "--days", "14", "--programmable", "1", "--constant-flow", "1", "--seed", "4"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "score.json").read_text(encoding="utf-8"))
    assert "<html" in (out / "score.html").read_text(encoding="utf-8").lower()
