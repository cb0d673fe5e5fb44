import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine
from tests.auth_support import make_user

runner = CliRunner()


def invoke(*args: str, typed: str | None = None) -> tuple[int, str, str]:
    """Run the CLI; ``typed`` is what the person at the console types at its prompts."""
    result = runner.invoke(app, list(args), input=typed)
    return result.exit_code, result.stdout, result.stderr


def add_account(url: str, role: Role, username: str, password: str) -> None:
    """An account on the CLI's database (as ``users add`` would make it)."""
    engine = make_engine(url)
    try:
        make_user(engine, role, username=username, password=password)
    finally:
        engine.dispose()


@pytest.fixture
def db(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database: only `migrate` and `serve` create one."""
    url = empty_database_url
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    monkeypatch.setenv("PUMP_ACTOR", "nurse-7")
    code, out, err = invoke("migrate")
    assert code == 0, out + err
    return url


def test_register_refill_and_list(db: str) -> None:
    assert invoke("patients", "add", "P-1", "--body-mass", "70 kg")[0] == 0
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1")[0] == 0
    code, out, _ = invoke(
        "refill",
        "record",
        "HAI-1",
        "--returned",
        "0 mL",
        "--fill",
        "30 mL",
        "-c",
        "floxuridine:dose=0.12 mg/kg/d,lot=A1,expires=2027-12-31",
        "-c",
        "saline",
        "--at",
        "2026-11-02T09:00:00+00:00",
    )
    assert code == 0, out
    assert "252 mg at 8.4 mg/mL" in out
    code, out, _ = invoke(
        "refill",
        "record",
        "HAI-1",
        "--returned",
        "19 mL",
        "--fill",
        "30 mL",
        "-c",
        "floxuridine:dose=0.12 mg/kg/d",
        "-c",
        "saline",
        "--at",
        "2026-11-16T09:00:00+00:00",
        "--json",
    )
    assert code == 0, out
    result = json.loads(out)
    assert (round(result["expected_residual_ml"], 6), result["flow_class"]) == (16.0, "alert")
    assert round(result["measured_rate_ml_per_day"], 3) == 0.786
    code, out, _ = invoke("pumps", "list")
    assert code == 0
    assert "HAI-1" in out
    code, out, _ = invoke("due", "--within-days", "3660", "--json")
    assert [item["serial"] for item in json.loads(out)] == ["HAI-1"]
    assert invoke("pumps", "show", "HAI-1")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["pumps", "add", "X", "--model", "nope", "--route", "intra_arterial"],
            "unknown pump model",
            id="unknown model",
        ),
        pytest.param(
            ["refill", "record", "NOPE", "--returned", "1 mL", "--fill", "30 mL", "-c", "saline"],
            "no pump NOPE",
            id="unknown pump",
        ),
        pytest.param(
            ["refill", "record", "HAI-1", "--returned", "5 mg", "--fill", "30 mL", "-c", "saline"],
            "[volume]",
            id="wrong dimension",
        ),
        pytest.param(
            ["refill", "record", "HAI-1", "--returned", "0 mL", "--fill", "31 mL", "-c", "saline"],
            "exceeds",
            id="above capacity",
        ),
        pytest.param(
            ["refill", "record", "HAI-1", "--returned", "0 mL", "--fill", "30 mL", "-c", "aspirin"],
            "unknown drug",
            id="unknown drug",
        ),
        pytest.param(
            ["refill", "record", "HAI-1", "--returned", "0 mL", "--fill", "30 mL", "-c", "floxuridine:dose=5 mL"],
            "expected",
            id="dose with a volume",
        ),
        pytest.param(
            [
                "refill",
                "record",
                "HAI-1",
                "--returned",
                "0 mL",
                "--fill",
                "30 mL",
                "-c",
                "saline",
                "--at",
                "2026-11-02T09:00:00",
            ],
            "timezone",
            id="naive time",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(db: str, args: list[str], message: str) -> None:
    invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial")
    code, _out, err = invoke(*args)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err


def test_refill_from_a_json_file(db: str, tmp_path: Path) -> None:
    invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial")
    refill = tmp_path / "refill.json"
    refill.write_text(
        json.dumps(
            {
                "performed_at": "2026-11-02T09:00:00Z",
                "returned_volume_ml": "0 mL",
                "fill_volume_ml": "30 mL",
                "components": [{"drug_id": "saline"}],
            }
        )
    )
    code, _out, err = invoke("refill", "record", "HAI-1", "--file", str(refill))
    assert code == 0, err
    refill.write_text("{broken")
    code, _, err = invoke("refill", "record", "HAI-1", "--file", str(refill))
    assert (code, err.count("\n")) == (2, 1)


def test_schedule_ical_cancel_holiday_tick_and_notifications(db: str, tmp_path: Path) -> None:
    assert invoke("patients", "add", "P-1", "--body-mass", "70 kg")[0] == 0
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1")[0] == 0
    fudr = "floxuridine:dose=0.12 mg/kg/d"
    volumes = ("--returned", "0 mL", "--fill", "30 mL")
    code, _, _ = invoke("refill", "record", "HAI-1", *volumes, "-c", fudr, "-c", "saline")
    assert code == 0
    feed = tmp_path / "clinic.ics"
    code, out, _ = invoke("schedule", "--days", "30", "--ical", str(feed))
    assert code == 0
    assert "HAI-1" in out
    assert "booked" in out
    assert b"BEGIN:VEVENT" in feed.read_bytes()
    code, out, _ = invoke("schedule", "--days", "30", "--json")
    [view] = json.loads(out)
    code, out, _ = invoke("appointments", "cancel", str(view["appointment_id"]), "--reason", "patient request")
    assert code == 0
    assert out.startswith("rebooked HAI-1")
    code, _, err = invoke("appointments", "cancel", str(view["appointment_id"]), "--reason", "again")
    assert (code, err.startswith("error: appointment")) == (2, True)
    code, out, _ = invoke("clinic", "holiday", view["local_day"], "Closed for training")
    assert code == 0
    assert "1 appointment(s) moved" in out
    assert invoke("tick")[0] == 0
    assert invoke("notifications", "list")[0] == 0
    code, out, _ = invoke("due", "--overdue")
    assert (code, out.strip()) == (0, "no pump is due in that window")


def test_a_pump_is_replaced_and_a_model_corrected_from_the_command_line(db: str) -> None:
    assert invoke("patients", "add", "P-1", "--body-mass", "70 kg")[0] == 0
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1")[0] == 0
    code, out, err = invoke("pumps", "set-model", "HAI-1", "--model", "programmable-20", "--reason", "typo")
    assert code == 2
    assert "another family" in err
    code, out, err = invoke("pumps", "set-model", "HAI-1", "--model", "cf-50", "--reason", "typo")
    assert (code, out.strip()) == (0, "pump HAI-1 is now registered as cf-50"), err
    replace = ["pumps", "replace", "HAI-1", "--serial", "HAI-2", "--model", "hai-30", "--route", "intra_arterial"]
    code, out, err = invoke(*replace, "--reason", "ERI")
    assert code == 0, err
    assert "HAI-1 explanted, replaced by HAI-2" in out
    code, out, _ = invoke("pumps", "show", "HAI-2", "--json")
    assert json.loads(out)["replaces_serial"] == "HAI-1"
    code, _, err = invoke(*replace[:4], "HAI-3", *replace[5:], "--reason", "again")
    assert code == 2
    assert "explanted" in err


def _hai_refill(at: str, returned: str, *extra: str, typed: str | None = None) -> tuple[int, str, str]:
    return invoke(
        "refill",
        "record",
        "HAI-1",
        "--returned",
        returned,
        "--fill",
        "30 mL",
        "-c",
        "floxuridine:dose=0.12 mg/kg/d,lot=A1,expires=2027-12-31",
        "-c",
        "saline",
        "--at",
        at,
        *extra,
        typed=typed,
    )


def test_a_hard_stop_exits_3_lists_the_findings_and_an_override_records_it(db: str) -> None:
    """Seen: a refill 2.5 h after the fill was recorded with exit code 0 at 278 mL/day."""
    assert invoke("patients", "add", "P-1", "--body-mass", "70 kg")[0] == 0
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1")[0] == 0
    assert _hai_refill("2026-11-02T09:00:00+00:00", "0 mL")[0] == 0
    code, out, err = _hai_refill("2026-11-02T11:30:00+00:00", "1 mL", "--dry-run")
    assert code == 0
    assert "HARD STOP" in out
    code, out, err = _hai_refill("2026-11-02T11:30:00+00:00", "1 mL")
    assert code == 3
    assert "implausible_flow" in err
    assert "refill_interval_short" in err
    assert "2338" not in out + err
    add_account(db, Role.PHYSICIAN, "dr-3", "dr-3-own-password")
    override = (
        "--override",
        "implausible_flow",
        "--override",
        "refill_interval_short",
        "--override-by",
        "dr-3",
        "--override-reason",
        "pump emptied for an angiogram and refilled",
    )
    code, out, err = _hai_refill("2026-11-02T11:30:00+00:00", "1 mL", *override, typed="a guess\n")
    assert code != 0  # the physician's own password, or no override
    assert "wrong password" in err
    code, out, err = _hai_refill("2026-11-02T11:30:00+00:00", "1 mL", *override, typed="dr-3-own-password\n")
    assert code == 0, err
    assert "8.4 mg/d" in out
    assert "(overridden)" in out
    assert "override          by dr-3 (physician)" in out


def test_a_body_mass_in_milligrams_exits_2_naming_the_field(db: str) -> None:
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial")[0] == 0
    code, _, err = _hai_refill("2026-11-02T09:00:00+00:00", "0 mL", "--body-mass", "70 mg")
    assert code == 2
    assert "body_mass_kg" in err
    assert "2 to 350 kg" in err
