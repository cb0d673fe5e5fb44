"""``charges list --limit/--cursor``, ``charges batch``, ``charges export`` errors, ``charges billing``."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.actor import Actor
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from tests.charge_support import bill_refill, billed_body, register_hai
from tests.support import T0

runner = CliRunner()

_CLINIC_FILE = """
[clinic]
effective_from = 2026-01-01
jurisdiction = "JM"
payer_profile = "medicare_palmetto"

[profiles.medicare_palmetto]
name = "Medicare Part B, Palmetto GBA (JM)"
fee_schedule = "mpfs"
facility_pos = ["19", "21", "22", "23", "24", "25", "31", "32", "34", "51", "52", "54", "61", "62", "65"]
kd_modifier_on_pump_drugs = true
jw_jz_modifiers = true
compounded_drug_code = "J3490"
compounded_antineoplastic_code = "J9999"
a4220_billable = false
a4220_patient_liability_zero = true
patency_drugs_billable = false
drugs_billable_in_facility = false
em_on_refill_visit = true
imaging_guidance_billable = true
distinct_modifier = "XU"
covered_uses = ["hai_chemotherapy", "spinal_antispasmodic", "spinal_opioid"]
prior_auth_uses = []
label_pairs = []
excluded_uses = ["heparin_for_thromboembolism", "insulin_for_diabetes"]
regional_dx = true
"""


@pytest.fixture
def billed(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A database with two billed HAI refills (2 and 16 Nov); returns the charges' event ids."""
    url = empty_database_url
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    monkeypatch.setenv("PUMP_ACTOR", "biller-3")
    engine = make_engine(url)
    upgrade(engine)
    actor = Actor(user="nurse-7", station_id="station-1")
    settings = Settings(database_url=url)
    register_hai(engine, actor)
    with transaction(engine) as session:
        default_clinic(session, settings, now=T0, actor=actor)
    rows = bill_refill(engine, settings, actor, billed_body()).rows
    later = billed_body(T0 + timedelta(days=14)) | {"returned_volume_ml": "16 mL"}
    rows += bill_refill(engine, settings, actor, later).rows
    engine.dispose()
    return [row.event_id for row in rows]


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_pages_with_limit_and_cursor(billed: list[str]) -> None:
    seen: list[str] = []
    args = ["charges", "list", "--json", "--limit", "3"]
    while True:
        code, out, err = invoke(*args)
        assert code == 0, err
        page = json.loads(out)
        seen += [v["event_id"] for v in page["items"]]
        if page["next_cursor"] is None:
            break
        args = ["charges", "list", "--json", "--limit", "3", "--cursor", page["next_cursor"]]
    assert seen == billed
    code, out, _ = invoke("charges", "list", "--limit", "2")
    assert out.strip().splitlines()[-1].startswith("more: --cursor ")
    assert invoke("charges", "list", "--cursor", "bogus")[0] == 2


def test_list_by_date_of_service_and_voided_status(billed: list[str]) -> None:
    code, out, _ = invoke("charges", "list", "--json", "--since", "2026-11-10")
    assert {v["service_date"] for v in json.loads(out)["items"]} == {"2026-11-16"}
    assert invoke("charges", "void", billed[0], "--reason", "entered twice")[0] == 0
    code, out, _ = invoke("charges", "list", "--status", "billable", "--json")
    assert billed[0] not in {v["event_id"] for v in json.loads(out)["items"]}
    code, out, _ = invoke("charges", "list", "--status", "voided", "--json")
    assert code == 0
    [voided] = json.loads(out)["items"]
    assert (voided["event_id"], voided["status"]) == (billed[0], "voided")
    assert voided["voided_by_event_id"] is not None
    assert invoke("charges", "list", "--since", "2 Nov")[0] == 2


def test_batch_per_clinic_and_date(billed: list[str]) -> None:
    code, out, err = invoke("charges", "batch", "--clinic", "main", "--date", "2026-11-02")
    assert code == 0, err
    assert out.splitlines()[0].startswith("clinic main, 2026-11-02: 1 visits, 4 lines, 2 billable, 2 units")
    assert "medicare" in out.splitlines()[1]
    code, out, _ = invoke("charges", "batch", "--clinic", "main", "--date", "2026-11-02", "--json")
    assert json.loads(out)["totals"][0]["payer_profile"] == "medicare"
    assert invoke("charges", "batch", "--clinic", "nowhere", "--date", "2026-11-02")[0] == 2
    assert invoke("charges", "batch", "--clinic", "main", "--date", "tomorrow")[0] == 2


def test_observation_6_export_of_an_unknown_visit_fails_and_writes_nothing(billed: list[str], tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    code, _, err = invoke("charges", "export", "--visit", "UNKNOWN", "--format", "csv", "--output", str(target))
    assert code == 2
    assert "UNKNOWN" in err
    assert not target.exists()


def test_observation_6_output_is_never_overwritten_without_force(billed: list[str], tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("keep me")
    code, _, err = invoke("charges", "export", "--format", "csv", "--output", str(target))
    assert code == 2
    assert "--force" in err
    assert target.read_text() == "keep me"
    code, out, _ = invoke("charges", "export", "--format", "csv", "--output", str(target), "--force")
    assert (code, out.strip()) == (0, f"wrote {target}")
    assert target.read_text().startswith("event_id")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_clinic_billing_from_a_file(billed: list[str], tmp_path: Path) -> None:
    code, out, _ = invoke("charges", "billing", "main")
    assert (code, out.strip()) == (0, "clinic main uses the packaged billing data and the station's defaults")
    setup = tmp_path / "main-billing.toml"
    setup.write_text(_CLINIC_FILE)
    code, out, err = invoke("charges", "billing", "main", "--file", str(setup))
    assert code == 0, err
    assert out.startswith("v1 from 2026-01-01: jurisdiction JM, POS -, profile medicare_palmetto")
    assert "biller-3@" in out
    setup.write_text(_CLINIC_FILE.replace('"JM"', '"JZ"'))
    code, _, err = invoke("charges", "billing", "main", "--file", str(setup))
    assert code == 2
    assert err.startswith("error: jurisdiction: ")
    assert "unknown jurisdiction 'JZ'" in err
    setup.write_text(_CLINIC_FILE.replace("regional_dx = true", "regional_dx = true\nextra = 1"))
    code, _, err = invoke("charges", "billing", "main", "--file", str(setup))
    assert code == 2
    assert "profiles.medicare_palmetto" in err
    code, out, _ = invoke("charges", "billing", "main", "--json")
    assert [v["version"] for v in json.loads(out)] == [1]
    assert invoke("charges", "billing", "nowhere")[0] == 2
