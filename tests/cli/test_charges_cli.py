import csv
import json
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import upgrade
from pump_service.services.actor import Actor
from pump_service.settings import Settings
from tests.charge_support import bill_refill, billed_body, register_hai

runner = CliRunner()


@pytest.fixture
def billed(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A database with one billed HAI refill; returns the charges' event ids."""
    url = empty_database_url
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    monkeypatch.setenv("PUMP_ACTOR", "nurse-7")
    engine = make_engine(url)
    upgrade(engine)
    actor = Actor(user="nurse-7", station_id="station-1")
    register_hai(engine, actor)
    rows = bill_refill(engine, Settings(database_url=url), actor, billed_body()).rows
    engine.dispose()
    return [row.event_id for row in rows]


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_as_text_and_json(billed: list[str]) -> None:
    code, out, _ = invoke("charges", "list")
    assert code == 0
    assert out.splitlines()[0].startswith("EVENT")
    assert f"{billed[1]} charge" in out
    assert "JZ+KD" in out
    code, out, _ = invoke("charges", "list", "--status", "billable", "--json")
    assert code == 0
    page = json.loads(out)
    assert page["next_cursor"] is None
    assert [(v["code"], v["delivery_status"]) for v in page["items"]] == [("96522", "pending"), ("J9200", "pending")]
    assert invoke("charges", "list", "--visit", "nope")[1].strip() == "no charge events"


def test_export_formats(billed: list[str], tmp_path: Path) -> None:
    target = tmp_path / "charges.csv"
    code, out, _ = invoke("charges", "export", "--format", "csv", "--output", str(target))
    assert (code, out.strip()) == (0, f"wrote {target}")
    with target.open(newline="") as handle:
        assert [row["event_id"] for row in csv.DictReader(handle)] == billed
    code, out, _ = invoke("charges", "export", "--format", "hl7")
    assert code == 0
    message = parse_message(out, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert [g.ft1.ft1_2.value for g in message.dft_p03_financial] == billed[:2]
    code, out, _ = invoke("charges", "export")
    assert [e["resource"]["id"] for e in json.loads(out)["entry"]] == billed


def test_void_then_void_again(billed: list[str]) -> None:
    code, out, _ = invoke("charges", "void", billed[0], "--reason", "entered twice")
    assert code == 0
    assert out.startswith("void ")
    assert out.strip().endswith(f"recorded for charge {billed[0]} (96522)")
    code, _, err = invoke("charges", "void", billed[0], "--reason", "again")
    assert code == 2
    assert "already corrected" in err
    assert invoke("charges", "void", "nope", "--reason", "x")[0] == 2


def test_dispatch_to_a_folder_once(billed: list[str], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    code, out, _ = invoke("charges", "dispatch", "--to-folder", str(drop), "--format", "csv")
    assert code == 0, out
    assert f"{billed[0]} delivered attempt 1" in out
    assert out.strip().endswith("delivered: 4; 0 pending")
    code, out, _ = invoke("charges", "dispatch", "--to-folder", str(drop))
    assert (code, out.strip()) == (0, "nothing was due; 0 pending")
    assert len(list(drop.iterdir())) == 1
    assert json.loads(invoke("charges", "list", "--json")[1])["items"][0]["delivery_status"] == "delivered"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["charges", "dispatch"], "no charge destination"),
        (["charges", "dispatch", "--to-url", "ftp://x.example"], "http:// or https://"),
        (["charges", "export", "--format", "x12"], "unknown export format"),
        (["charges", "list", "--status", "paid"], "unknown status"),
    ],
)
def test_bad_input_exits_2(billed: list[str], args: list[str], message: str) -> None:
    code, _, err = invoke(*args)
    assert code == 2
    assert message in err
