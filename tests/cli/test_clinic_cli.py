"""``pump-service clinic ...``: clinics, their history, holidays, worklist and pumps from the command line.

The CLI runs on the wall clock, so the days used here are counted from today.
"""

import json
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from pump_service.cli import app
from schemas.clock import SystemClock

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database: only `migrate` and `serve` create one."""
    url = empty_database_url
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    monkeypatch.setenv("PUMP_ACTOR", "desk-3")
    code, out, err = invoke("migrate")
    assert code == 0, out + err
    return url


def _next(weekday: int) -> date:
    """The next such weekday (0 = Monday) at least two weeks ahead, whatever the zone."""
    day = SystemClock().now().date() + timedelta(days=14)  # the CLI's own clock
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def test_a_clinic_is_added_shown_listed_changed_and_its_history_read(db: str) -> None:
    args = ("--name", "North", "--tz", "America/New_York", "--opens", "08:00", "--closes", "12:00", "--capacity", "4")
    code, out, err = invoke("clinic", "add", "north", *args, "--jurisdiction", "JM")
    assert code == 0, err
    assert out.startswith("north: North (America/New_York, jurisdiction JM)")
    assert invoke("clinic", "add", "north", *args)[0] == 2
    code, out, _ = invoke("clinic", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["main", "north"]
    code, out, _ = invoke("clinic", "show", "north", "--json")
    assert json.loads(out)["capacity_per_day"] == 4
    code, out, err = invoke("clinic", "set", "north", "--capacity", "6", "--working-days", "0,2,4")
    assert code == 0, err
    assert "0 appointment(s) moved" in out
    code, out, _ = invoke("clinic", "history", "north", "--json")
    changes = json.loads(out)
    assert [c["kind"] for c in changes] == ["created", "changed"]
    assert changes[1]["after"] == {"working_days": [0, 2, 4], "capacity_per_day": 6}
    assert changes[1]["changed_by"] == "desk-3"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--capacity", "0"), "capacity_per_day"),
        (("--capacity", "-2"), "capacity_per_day"),
        (("--jurisdiction", "J2"), "jurisdiction"),
        (("--closes", "07:00"), "closes_at"),
    ],
)
def test_bad_clinic_changes_exit_2_naming_the_field_and_change_nothing(
    db: str, args: tuple[str, ...], message: str
) -> None:
    before = invoke("clinic", "show", "--json")[1]
    code, _, err = invoke("clinic", "set", "main", *args)
    assert code == 2
    assert err.startswith(f"error: {message}")
    assert invoke("clinic", "show", "--json")[1] == before
    code, _, err = invoke("clinic", "set", "nowhere", "--capacity", "3")
    assert (code, err.strip()) == (2, "error: no clinic nowhere")


def test_holidays_are_refused_in_the_past_or_on_a_closed_day_listed_and_removed(db: str) -> None:
    for day in ("2020-01-01", "0001-01-01", "9999-12-31", _next(5).isoformat()):
        code, _, err = invoke("clinic", "holiday", day, "x")
        assert code == 2, day
        assert err.startswith("error: day: "), err
    monday = _next(0).isoformat()
    assert invoke("clinic", "holiday", monday, "Staff training")[0] == 0
    code, out, _ = invoke("clinic", "holidays")
    assert out.strip().split()[:2] == [monday, "Monday"]
    assert invoke("clinic", "unholiday", monday)[0] == 0
    assert invoke("clinic", "holidays")[1].strip() == "no holidays"
    code, _, err = invoke("clinic", "unholiday", monday)
    assert (code, "is not a holiday" in err) == (2, True)


def test_worklist_assign_and_a_patient_cancellation(db: str) -> None:
    assert invoke("clinic", "worklist")[1].strip() == "nothing overdue"
    assert invoke("patients", "add", "P-1", "--body-mass", "70 kg")[0] == 0
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1")[0] == 0
    args = ("--name", "North", "--tz", "America/New_York")
    assert invoke("clinic", "add", "north", *args)[0] == 0
    code, out, err = invoke("clinic", "assign", "HAI-1", "--clinic", "north")
    assert (code, out.strip()) == (0, "pump HAI-1 now at clinic north"), err
    volumes = ("--returned", "0 mL", "--fill", "30 mL")
    assert invoke("refill", "record", "HAI-1", *volumes, "-c", "floxuridine:dose=0.12 mg/kg/d", "-c", "saline")[0] == 0
    [view] = json.loads(invoke("schedule", "--clinic", "north", "--days", "30", "--json")[1])
    code, _, err = invoke("appointments", "cancel", str(view["appointment_id"]), "--reason", "-", "--no-show")
    assert (code, "once it has started" in err) == (2, True)
    code, out, err = invoke(
        "appointments", "cancel", str(view["appointment_id"]), "--reason", "patient request", "--patient-request"
    )
    assert code == 0, err
    [new] = json.loads(invoke("schedule", "--clinic", "north", "--days", "30", "--json")[1])
    assert new["local_day"] != view["local_day"]
    assert invoke("clinic", "assign", "NOPE", "--clinic", "north")[0] == 2
    assert invoke("clinic", "worklist", "--clinic", "north", "--json")[1].strip() == "[]"
