"""The visit wizard's pages: who may open them, what the form is loaded with, what the result shows."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.domain.access import Role
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from tests.support import T0, fudr_refill
from tests.web.pages_support import browser


@pytest.fixture
def nurse(app: FastAPI) -> TestClient:
    return browser(app, Role.NURSE)


def _register_hai(engine: Engine, settings: Settings) -> int:
    """A constant-flow HAI pump with one recorded fill; the fill's refill id."""
    actor = Actor(user="nurse-7", station_id="test-station")
    body = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-1", body_mass_kg=70.0), actor=actor, now=T0)
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
        entry = RefillEntry.model_validate(fudr_refill(T0))
        return record_refill(session, "HAI-1", entry, actor=actor, settings=settings, now=T0).refill_id


def test_not_signed_in_goes_to_the_login_page(app: FastAPI) -> None:
    answer = browser(app, None).get("/visits/new?pump=HAI-1")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/visits/new")


@pytest.mark.parametrize("role", [Role.BILLING, Role.MANAGER, Role.ADMIN])
def test_roles_that_do_not_record_visits_get_a_forbidden_page(app: FastAPI, role: Role) -> None:
    answer = browser(app, role).get("/visits/new?pump=HAI-1")
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]


def test_the_form_carries_the_pump_version_and_a_fresh_idempotency_key(
    nurse: TestClient, engine: Engine, settings: Settings
) -> None:
    _register_hai(engine, settings)
    first, second = (nurse.get("/visits/new?pump=HAI-1") for _ in range(2))
    assert first.status_code == 200, first.text
    keys = {m.group(1) for page in (first, second) for m in re.finditer(r'data-key="([^"]+)"', page.text)}
    assert len(keys) == 2  # one key per loaded form
    assert re.search(r'data-version="\d+"', first.text)
    assert 'data-programmable="false"' in first.text  # a constant-flow pump: no interrogation
    assert 'id="interrogate"' not in first.text
    assert 'data-spinal="false"' in first.text
    assert "Previous visit" in first.text
    assert "/static/wizard.js" in first.text


def test_an_unknown_pump_is_not_found(nurse: TestClient) -> None:
    assert nurse.get("/visits/new?pump=NOPE").status_code == 404


def test_the_result_page_shows_the_appointment_the_charges_and_the_links(
    nurse: TestClient, engine: Engine, settings: Settings
) -> None:
    refill_id = _register_hai(engine, settings)
    page = nurse.get(f"/visits/refills/{refill_id}")
    assert page.status_code == 200, page.text
    assert "Next appointment" in page.text
    assert "Charges of this visit" in page.text
    assert f'href="/refills/{refill_id}/record.pdf"' in page.text
    assert 'href="/pumps/HAI-1"' in page.text


def test_an_unknown_refill_result_is_not_found(nurse: TestClient) -> None:
    assert nurse.get("/visits/refills/999").status_code == 404
