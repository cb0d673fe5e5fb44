"""``pump-service visit analyse|reprogram|flush|abandon`` against a migrated database and a simulated programmer."""

import itertools
import json
import os

import pytest

from pump_service.domain.access import Role
from schemas.clock import SystemClock
from tests.cli.test_cli import add_account, invoke

_PORTS = itertools.count()
RX_06 = json.dumps({"mode": "continuous", "rate_ml_per_day": "0.6 mL/d"})


@pytest.fixture
def db(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = empty_database_url
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    monkeypatch.setenv("PUMP_ACTOR", "nurse-7")
    code, out, err = invoke("migrate")
    assert code == 0, out + err
    return url


@pytest.fixture
def port(db: str) -> str:
    """A registered intrathecal programmable pump SM-C and a simulated programmer holding it (real time)."""
    assert invoke("patients", "add", "P-1", "--body-mass", "60 kg")[0] == 0
    rx = json.dumps({"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"})
    code, out, err = invoke(
        "pumps", "add", "SM-C", "--model", "programmable-20", "--route", "intrathecal", "--patient", "P-1", "--rx", rx
    )
    assert code == 0, out + err
    return f"sim://programmable-20?serial=SM-C&volume=4&rate=0.5&seed={next(_PORTS)}"


def test_visit_analyse_twice_records_and_bills_once(port: str) -> None:
    at = SystemClock().now().isoformat()
    code, out, err = invoke(
        "visit", "analyse", "SM-C", "--port", port, "--idempotency-key", "cli-analysis-1", "--at", at
    )
    assert code == 0, out + err
    assert "analysis visit cli-analysis-1 of SM-C" in out
    assert "62367 (billable)" in out
    retry = ("visit", "analyse", "SM-C", "--port", port, "--idempotency-key", "cli-analysis-1", "--at", at, "--json")
    code, out, _ = invoke(*retry)
    assert code == 0
    body = json.loads(out)
    assert body["replayed"] is True
    assert [c["code"] for c in body["charges"]] == ["62367"]


def test_visit_reprogram_and_its_hard_stop_exit_code(port: str) -> None:
    code, out, err = invoke("visit", "reprogram", "SM-C", "--rx", RX_06, "--port", port, "--json")
    assert code == 0, out + err
    body = json.loads(out)
    assert body["kind"] == "reprogramming"
    assert [c["code"] for c in body["charges"]] == ["62368"]
    too_much = json.dumps({"mode": "continuous", "rate_ml_per_day": "1.5 mL/d"})
    code, _, err = invoke("visit", "reprogram", "SM-C", "--rx", too_much, "--port", port)
    assert code == 3
    assert "dose_above_label_max" in err
    add_account(os.environ["PUMP_DATABASE_URL"], Role.PHYSICIAN, "md-1", "md-1-own-password")
    code, out, err = invoke(
        "visit", "reprogram", "SM-C", "--rx", too_much, "--port", port,
        "--override", "dose_above_label_max", "--override-by", "md-1", "--override-reason", "titration under care",
        typed="md-1-own-password\n",
    )  # fmt: skip
    assert code == 0, out + err
    assert "hard_stop" in out


def test_visit_flush_and_abandon(db: str) -> None:
    assert invoke("patients", "add", "P-2")[0] == 0
    assert invoke("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-2")[0] == 0
    at = SystemClock().now().isoformat()
    flush = ("visit", "flush", "HAI-1", "-i", "heparin:5 mL:100 U/mL", "--idempotency-key", "cli-flush-1", "--at", at)
    code, out, err = invoke(*flush)
    assert code == 0, out + err
    assert "injected          heparin 5 mL (500 USP units)" in out
    assert "96523 (billable)" in out
    replay = invoke(*flush)
    assert "already recorded" in replay[1]
    code, _, err = invoke("visit", "flush", "HAI-1", "-i", "saline:5 mL", "--idempotency-key", "cli-flush-1")
    assert code == 2
    assert "already used" in err
    code, out, err = invoke("visit", "abandon", "cli-abandon-1", "--pump", "HAI-1", "--reason", "port not accessible")
    assert code == 0, out + err
    assert "abandoned" in out
    assert "charges           none" in out
    code, _, err = invoke("visit", "abandon", "cli-abandon-1", "--pump", "NOPE", "--reason", "port not accessible")
    assert code == 2
