"""GET /audit and the /audit page: managers and admins read the trail; every other role gets 403."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session

from pump_service.api.app import create_app
from pump_service.api.auth import Principal, require
from pump_service.api.deps import SessionDep
from pump_service.domain.access import Permission, Role
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor, acting_as
from pump_service.services.audit import audit_clock
from pump_service.services.contracts import PatientEntry
from pump_service.services.pumps.registry import register_patient
from pump_service.settings import Settings
from tests.audit_support import audit_rows, drop_append_only_triggers
from tests.auth_support import login_client
from tests.support import T0, FixedClock

NURSE = Actor(user="nurse-7", station_id="station-1", role=Role.NURSE)
READERS = [Role.MANAGER, Role.ADMIN]
OTHERS = [Role.NURSE, Role.PHYSICIAN, Role.BILLING, Role.BENCH]
HTML = {"Accept": "text/html"}


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FixedClock) -> FastAPI:
    with acting_as(NURSE), audit_clock(clock):
        for i in range(5):
            with transaction(engine) as session:
                register_patient(session, PatientEntry(patient_ref=f"P-{i}", body_mass_kg=70.0), actor=NURSE, now=T0)
    return create_app(settings, clock=clock, engine=engine)


@pytest.fixture
def manager(app: FastAPI) -> Iterator[TestClient]:
    with login_client(app, Role.MANAGER) as client:
        yield client


@pytest.mark.parametrize("role", READERS)
def test_managers_and_admins_read_the_trail(app: FastAPI, role: Role) -> None:
    with login_client(app, role) as client:
        response = client.get("/audit", params={"entity": "patient"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["after"]["patient_ref"] for item in body["items"]] == [f"P-{i}" for i in reversed(range(5))]
    assert {(i["actor_user"], i["actor_role"], i["station_id"]) for i in body["items"]} == {
        ("nurse-7", "nurse", "station-1")
    }
    assert body["next_cursor"] is None


@pytest.mark.parametrize("role", OTHERS)
def test_other_roles_are_refused_with_a_403_problem(app: FastAPI, role: Role) -> None:
    with login_client(app, role) as client:
        api = client.get("/audit")
        page = client.get("/audit", headers=HTML)
    assert api.status_code == 403
    assert api.headers["content-type"].startswith("application/problem+json")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "P-0" not in page.text  # no audited row leaks into the refusal page


def test_unauthenticated_gets_401_and_the_page_sends_to_sign_in(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.get("/audit").status_code == 401
        page = client.get("/audit?entity=patient", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=/audit")


def test_pages_follow_the_cursor_and_filters_apply(manager: TestClient) -> None:
    first = manager.get("/audit", params={"entity": "patient", "limit": 2}).json()
    assert [i["entity_id"] for i in first["items"]] == ["5", "4"]
    second = manager.get("/audit", params={"entity": "patient", "limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["entity_id"] for i in second["items"]] == ["3", "2"]
    assert manager.get("/audit", params={"user": "nobody"}).json()["items"] == []
    one = manager.get("/audit", params={"entity": "patient", "entity_id": "3"}).json()["items"]
    assert [(i["action"], i["after"]["patient_ref"]) for i in one] == [("insert", "P-2")]
    later = (T0 + timedelta(hours=1)).isoformat()
    assert manager.get("/audit", params={"since": later, "entity": "patient"}).json()["items"] == []
    assert len(manager.get("/audit", params={"until": later, "entity": "patient"}).json()["items"]) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"since": "2026-11-02T09:00:00"}, "since"),
        ({"entity_id": "3"}, "entity_id"),
    ],
)
def test_bad_queries_are_422_problems(manager: TestClient, params: dict[str, str | int], field: str) -> None:
    response = manager.get("/audit", params=params)
    assert response.status_code == 422
    assert field in response.text


def test_the_page_shows_entries_readably_and_says_the_chain_verifies(manager: TestClient) -> None:
    page = manager.get("/audit", params={"entity": "patient"}, headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "The chain verifies: " in page.text
    assert "<td>patient_ref</td><td></td><td>P-4</td>" in page.text
    assert "nurse-7" in page.text


def test_the_page_banner_says_when_the_chain_is_broken(manager: TestClient, engine: Engine) -> None:
    drop_append_only_triggers(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE seq = 2"))
    page = manager.get("/audit", headers=HTML)
    assert page.status_code == 200
    assert "The chain does NOT verify: entry 2 missing" in page.text


def test_a_bad_page_filter_is_shown_not_a_500(manager: TestClient) -> None:
    page = manager.get("/audit", params={"since": "yesterday"}, headers=HTML)
    assert page.status_code == 422
    assert "since: not a date and time" in page.text


def _probe_routes(app: FastAPI) -> None:
    """Two writes that flush only at commit, with the session dependency before or after the principal's."""

    def register(session: Session, principal: Principal, ref: str) -> dict[str, str]:
        register_patient(session, PatientEntry(patient_ref=ref, body_mass_kg=70.0), actor=principal.actor(), now=T0)
        return {"ref": ref}

    @app.post("/_probe/session-first")
    def session_first(
        session: SessionDep, principal: Annotated[Principal, Depends(require(Permission.MANAGE_PUMPS))]
    ) -> dict[str, str]:
        return register(session, principal, "P-SESSION-FIRST")

    @app.post("/_probe/principal-first")
    def principal_first(
        principal: Annotated[Principal, Depends(require(Permission.MANAGE_PUMPS))], session: SessionDep
    ) -> dict[str, str]:
        return register(session, principal, "P-PRINCIPAL-FIRST")


@pytest.mark.parametrize("path", ["/_probe/session-first", "/_probe/principal-first"])
def test_a_request_s_changes_are_attributed_to_its_principal_in_the_app_s_clock(
    app: FastAPI, engine: Engine, clock: FixedClock, path: str
) -> None:
    _probe_routes(app)
    clock.advance(90)
    with login_client(app, Role.NURSE) as client:
        response = client.post(path)
    assert response.status_code == 200, response.text
    ref = response.json()["ref"]
    (entry,) = [e for e in audit_rows(engine, entity="patient") if e.after["patient_ref"] == ref]
    assert entry.actor_role == "nurse"
    assert entry.actor_user.startswith("nurse-")
    assert (entry.station_id, entry.note) == ("bench-test", None)
    assert entry.at == T0 + timedelta(seconds=90)
