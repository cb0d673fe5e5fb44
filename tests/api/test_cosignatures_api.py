"""Co-signatures through the API: a second person's own password, the right role, one pump, one refill, 15 minutes."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.persistence.cosignature_models import Cosignature
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Refill
from pump_service.settings import Settings
from tests.auth_support import ensure_bench_station, make_user, token_for
from tests.support import T0, FixedClock, fudr_refill

T14 = T0 + timedelta(days=14)


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FixedClock) -> FastAPI:
    return create_app(settings, clock=clock, engine=engine)


def _client(app: FastAPI, username: str) -> TestClient:
    engine: Engine = app.state.engine
    station = ensure_bench_station(engine, app.state.settings)
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token_for(engine, username, station)}"
    return client


@pytest.fixture
def people(app: FastAPI) -> dict[str, tuple[str, str]]:
    engine: Engine = app.state.engine
    return {
        "nurse": make_user(engine, Role.NURSE, "nurse-a", "nurse-a-password"),
        "nurse2": make_user(engine, Role.NURSE, "nurse-b", "nurse-b-password"),
        "physician": make_user(engine, Role.PHYSICIAN, "dr-who", "dr-who-password"),
        "billing": make_user(engine, Role.BILLING, "bill-c", "bill-c-password"),
        "bench": make_user(engine, Role.BENCH, "bench-d", "bench-d-password"),
    }


@pytest.fixture
def nurse(app: FastAPI, people: dict[str, tuple[str, str]]) -> TestClient:
    return _client(app, "nurse-a")


def _hai(client: TestClient, serial: str = "HAI-1") -> None:
    patient = client.post("/patients", json={"patient_ref": f"P-{serial}", "body_mass_kg": "70 kg"})
    assert patient.status_code in (200, 201), patient.text
    body = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": f"P-{serial}"}
    created = client.post("/pumps", json=body)
    assert created.status_code == 201, created.text
    first = client.post(f"/pumps/{serial}/refills", json=fudr_refill(T0))
    assert first.status_code == 201, first.text


def _override(client: TestClient, who: str, password: str, serial: str = "HAI-1", **extra: Any) -> Any:
    body = {
        "kind": "hard_stop_override",
        "username": who,
        "password": password,
        "reason": "pump emptied for an angiogram and refilled",
        "codes": ["implausible_flow", "refill_interval_short"],
        **extra,
    }
    return client.post(f"/pumps/{serial}/cosignatures", json=body)


def _stopped(clock: FixedClock) -> dict[str, Any]:
    at = T0 + timedelta(hours=2, minutes=30)
    clock.set(at)
    return fudr_refill(at, returned="1 mL")


def _count(engine: Engine, table: type) -> int:
    with transaction(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_a_physician_co_signs_an_override_that_clears_the_hard_stop_once(
    nurse: TestClient, engine: Engine, clock: FixedClock
) -> None:
    _hai(nurse)
    body = _stopped(clock)
    refused = nurse.post("/pumps/HAI-1/refills", json=body)
    assert refused.status_code == 422
    assert set(refused.json()["unresolved"]) == {"implausible_flow", "refill_interval_short"}
    signed = _override(nurse, "dr-who", "dr-who-password")
    assert signed.status_code == 201, signed.text
    sig = signed.json()
    assert (sig["signer"], sig["signer_role"], sig["kind"]) == ("dr-who", "physician", "hard_stop_override")
    assert "password" not in signed.text
    assert sig["expires_at"] > sig["created_at"]
    recorded = nurse.post("/pumps/HAI-1/refills", json={**body, "cosignatures": [sig["cosignature_id"]]})
    assert recorded.status_code == 201, recorded.text
    override = recorded.json()["override"]
    assert (override["clinician_id"], override["role"], override["cosignature_id"]) == (
        "dr-who",
        "physician",
        sig["cosignature_id"],
    )
    assert recorded.json()["cosignatures"][0]["signer"] == "dr-who"
    with transaction(engine) as session:
        row = session.get(Cosignature, sig["cosignature_id"])
        assert row is not None
        assert row.used_by_refill_id == recorded.json()["refill_id"]
    # The same co-signature never covers a second fill.
    clock.advance(3 * 3600)
    again = fudr_refill(clock.now(), returned="1 mL", cosignatures=[sig["cosignature_id"]])
    reused = nurse.post("/pumps/HAI-1/refills", json=again)
    assert reused.status_code == 422
    assert "already used" in reused.text


def test_the_body_cannot_name_an_overriding_clinician(nurse: TestClient, clock: FixedClock) -> None:
    _hai(nurse)
    body = _stopped(clock)
    forged = {
        "clinician_id": "dr-who",
        "role": "physician",
        "reason": "typed by the nurse",
        "codes": ["implausible_flow"],
    }
    assert nurse.post("/pumps/HAI-1/refills", json={**body, "override": forged}).status_code == 422


@pytest.mark.parametrize(
    ("who", "password", "status", "text"),
    [
        pytest.param("dr-who", "not-his-password", 401, "wrong password", id="wrong password"),
        pytest.param("nobody", "whatever-pass", 401, "unknown username", id="unknown user"),
        pytest.param("nurse-b", "nurse-b-password", 403, "may not override", id="a nurse cannot override"),
        pytest.param("nurse-a", "nurse-a-password", 403, "another person", id="the requester cannot co-sign"),
        pytest.param("bill-c", "bill-c-password", 403, "may not override", id="billing cannot override"),
    ],
)
def test_a_co_signature_needs_another_persons_password_and_a_role_that_may_sign(
    nurse: TestClient, engine: Engine, who: str, password: str, status: int, text: str
) -> None:
    _hai(nurse)
    answer = _override(nurse, who, password)
    assert answer.status_code == status, answer.text
    assert text in answer.json()["detail"]
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert _count(engine, Cosignature) == 0


def test_a_co_signature_is_for_one_pump_and_expires(nurse: TestClient, clock: FixedClock) -> None:
    _hai(nurse, "HAI-1")
    _hai(nurse, "HAI-2")
    other = _override(nurse, "dr-who", "dr-who-password", serial="HAI-2").json()["cosignature_id"]
    body = _stopped(clock)
    wrong_pump = nurse.post("/pumps/HAI-1/refills", json={**body, "cosignatures": [other]})
    assert wrong_pump.status_code == 422
    assert "another pump" in wrong_pump.text
    late = _override(nurse, "dr-who", "dr-who-password").json()["cosignature_id"]
    clock.advance(16 * 60)
    body = fudr_refill(clock.now(), returned="1 mL", cosignatures=[late])
    expired = nurse.post("/pumps/HAI-1/refills", json=body)
    assert expired.status_code == 422
    assert "expired" in expired.text


def test_a_second_check_cannot_be_overridden(nurse: TestClient) -> None:
    _hai(nurse)
    answer = _override(nurse, "dr-who", "dr-who-password", codes=["second_check_missing"])
    assert answer.status_code == 422
    assert "second check" in answer.text


def test_a_spinal_fill_without_a_second_check_is_refused_before_the_pump_is_touched(
    nurse: TestClient, engine: Engine
) -> None:
    rx = {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"}
    body = {"serial": "SM-9", "model_id": "programmable-20", "route": "intrathecal", "prescription": rx}
    assert nurse.post("/pumps", json=body).status_code == 201
    fill = {
        "performed_at": T0.isoformat(),
        "returned_volume_ml": "0 mL",
        "fill_volume_ml": "20 mL",
        "components": [{"drug_id": "baclofen", "conc_mg_per_ml": "2 mg/mL", "lot": "B1", "expires_on": "2027-12-31"}],
    }
    plan = nurse.post("/pumps/SM-9/refills/plan", json=fill)
    assert plan.status_code == 200, plan.text
    assert plan.json()["unresolved"] == ["second_check_missing"]
    refused = nurse.post("/pumps/SM-9/refills", json=fill)
    assert refused.status_code == 422
    assert refused.json()["unresolved"] == ["second_check_missing"]
    wrong = {"kind": "second_check", "username": "nurse-b", "password": "nurse-b-password"}
    signed = nurse.post(
        "/pumps/SM-9/cosignatures", json={**wrong, "drug_id": "baclofen", "concentration": 4.0, "fill_volume_ml": 20}
    )
    assert signed.status_code == 201, signed.text
    mismatch = nurse.post("/pumps/SM-9/refills/plan", json={**fill, "cosignatures": [signed.json()["cosignature_id"]]})
    assert mismatch.json()["unresolved"] == ["second_check_missing"]  # 4 mg/mL was checked, 2 mg/mL is filled
    right = nurse.post(
        "/pumps/SM-9/cosignatures", json={**wrong, "drug_id": "baclofen", "concentration": 2.0, "fill_volume_ml": 20}
    )
    matched = nurse.post("/pumps/SM-9/refills/plan", json={**fill, "cosignatures": [right.json()["cosignature_id"]]})
    assert matched.json()["unresolved"] == []
    assert _count(engine, Refill) == 0


def test_a_stale_form_is_a_conflict_and_nothing_is_written(
    nurse: TestClient, engine: Engine, clock: FixedClock
) -> None:
    _hai(nurse)
    clock.set(T14)
    version = nurse.get("/pumps/HAI-1").json()["version"]
    body = fudr_refill(T14, returned="16 mL", expected_pump_version=version - 1)
    stale = nurse.post("/pumps/HAI-1/refills", json=body)
    assert stale.status_code == 409
    assert "changed since the form was loaded" in stale.text
    assert _count(engine, Refill) == 1
    fresh = nurse.post("/pumps/HAI-1/refills", json={**body, "expected_pump_version": version})
    assert fresh.status_code == 201, fresh.text


def test_co_signing_needs_the_record_visit_permission(app: FastAPI, people: dict[str, tuple[str, str]]) -> None:
    billing = _client(app, "bill-c")
    assert _override(billing, "dr-who", "dr-who-password").status_code == 403
    anonymous = TestClient(app)
    assert _override(anonymous, "dr-who", "dr-who-password").status_code == 401


def test_the_second_person_cannot_record_the_fill_they_checked(app: FastAPI, nurse: TestClient, engine: Engine) -> None:
    """Nurse A has nurse B sign a check; B then records the fill herself: one person, refused, nothing stored."""
    rx = {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"}
    body = {"serial": "SM-9", "model_id": "programmable-20", "route": "intrathecal", "prescription": rx}
    assert nurse.post("/pumps", json=body).status_code == 201
    fill = {
        "performed_at": T0.isoformat(),
        "returned_volume_ml": "0 mL",
        "fill_volume_ml": "20 mL",
        "components": [{"drug_id": "baclofen", "conc_mg_per_ml": "2 mg/mL", "lot": "B1", "expires_on": "2027-12-31"}],
    }
    check = {"kind": "second_check", "username": "nurse-b", "password": "nurse-b-password"}
    signed = nurse.post(
        "/pumps/SM-9/cosignatures", json={**check, "drug_id": "baclofen", "concentration": 2.0, "fill_volume_ml": 20}
    )
    assert signed.status_code == 201, signed.text
    own = {**fill, "cosignatures": [signed.json()["cosignature_id"]]}
    checker = _client(app, "nurse-b")
    for path in ("/pumps/SM-9/refills/plan", "/pumps/SM-9/refills"):
        refused = checker.post(path, json=own)
        assert refused.status_code == 403, refused.text
        assert "another person" in refused.json()["detail"]
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert _count(engine, Refill) == 0
    with transaction(engine) as session:
        row = session.get(Cosignature, signed.json()["cosignature_id"])
        assert row is not None
        assert row.used_by_refill_id is None
    matched = nurse.post("/pumps/SM-9/refills/plan", json=own)
    assert matched.json()["unresolved"] == []


def test_a_bench_account_is_not_a_second_person(nurse: TestClient, engine: Engine) -> None:
    """A bench (an integration's account) may record visits on a test bench, but a spinal fill's check is a person's."""
    rx = {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"}
    body = {"serial": "SM-9", "model_id": "programmable-20", "route": "intrathecal", "prescription": rx}
    assert nurse.post("/pumps", json=body).status_code == 201
    check = {"kind": "second_check", "username": "bench-d", "password": "bench-d-password"}
    signed = nurse.post(
        "/pumps/SM-9/cosignatures", json={**check, "drug_id": "baclofen", "concentration": 2.0, "fill_volume_ml": 20}
    )
    assert signed.status_code == 403, signed.text
    assert "may not give a second check" in signed.json()["detail"]
    assert _count(engine, Cosignature) == 0


@pytest.mark.parametrize("reason", [" " * 12, "\t\n" * 6, "   ok      "])
def test_an_override_needs_a_reason_not_blanks(
    app: FastAPI, nurse: TestClient, engine: Engine, clock: FixedClock, reason: str
) -> None:
    _hai(nurse)
    body = _stopped(clock)
    cosigned = _override(nurse, "dr-who", "dr-who-password", reason=reason)
    assert cosigned.status_code == 422, cosigned.text
    assert cosigned.json()["errors"][0]["loc"] == ["body", "hard_stop_override", "reason"]
    assert _count(engine, Cosignature) == 0
    physician = _client(app, "dr-who")
    own = {"reason": reason, "codes": ["implausible_flow", "refill_interval_short"]}
    refused = physician.post("/pumps/HAI-1/refills", json={**body, "override": own})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "override", "reason"]
    assert _count(engine, Refill) == 1  # the first fill only
