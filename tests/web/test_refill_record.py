"""The PDF refill record: read back with pypdf, with the figures, findings, override, settings and people in it."""

import io
import re

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import col, select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Refill
from pump_service.services.actor import Actor
from pump_service.settings import Settings
from tests.services.test_visits import Station
from tests.web.pages_support import browser
from tests.web.test_pump_page import record_history


@pytest.fixture
def station(engine: Engine, settings: Settings, actor: Actor) -> Station:
    return record_history(Station(engine, settings, actor))


def _client(station: Station, role: Role | None) -> TestClient:
    return browser(create_app(station.settings, clock=station.clock, engine=station.engine), role)


def _refill_ids(station: Station) -> list[int]:
    with transaction(station.engine) as session:
        return [r for r in session.exec(select(Refill.id).order_by(col(Refill.performed_at))).all() if r is not None]


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_the_record_of_an_overridden_refill_with_a_dose_change(station: Station) -> None:
    _, second = _refill_ids(station)
    response = _client(station, Role.NURSE).get(f"/refills/{second}/record.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = _text(response.content)
    for expected in (
        "Pump refill record",
        f"Refill {second}",
        "SM-1",
        "programmable-20",
        "P-9",  # the patient reference
        "Baclofen",
        "2 mg/mL",
        "B1",  # lot
        "2027-12-31",  # expiry
        "2.00 mL",  # measured residual
        "20.00 mL",  # fill volume
        "pocket_fill_suspected",
        "hard_stop",
        "dr-2",
        "physician",
        "aspiration incomplete; pocket checked",
        "rate 0.500 mL/d",  # the old setting
        "rate 0.400 mL/d",  # the new one
        "nurse-7",
        "test-station",
        "America/New_York",
        "Appointment booked",
    ):
        assert expected in text, expected
    assert "(unchanged)" not in text


def test_a_refill_without_a_dose_change_shows_the_settings_unchanged(station: Station) -> None:
    first, _ = _refill_ids(station)
    text = _text(_client(station, Role.PHYSICIAN).get(f"/refills/{first}/record.pdf").content)
    setting = "mode continuous; rate 0.500 mL/d; daily volume 0.500 mL"
    assert f"{setting} {setting} (unchanged)" in text  # before and after, side by side
    assert "No hard stop was overridden." in text


def test_the_times_are_clinic_local_and_labelled(station: Station) -> None:
    first, _ = _refill_ids(station)
    text = _text(_client(station, Role.NURSE).get(f"/refills/{first}/record.pdf").content)
    # T0 is 09:00 UTC on 2 November 2026: 04:00 in New York (EST).
    assert "2026-11-02 04:00 (America/New_York)" in text


def test_the_second_persons_check_is_printed(station: Station) -> None:
    if "cosignatures" not in Refill.model_fields:
        pytest.skip("co-signatures (second-person checks) arrive with the visit wizard's branch")
    _, second = _refill_ids(station)
    text = _text(_client(station, Role.NURSE).get(f"/refills/{second}/record.pdf").content)
    assert "Second-person verification" in text
    assert "Hard stop override (co-signed)" in text
    assert "nurse-2 (nurse)" in text  # the second person, as tests.cosign_support signs
    assert "dr-2 (physician)" in text


def test_unknown_refill_is_404(station: Station) -> None:
    response = _client(station, Role.NURSE).get("/refills/999999/record.pdf")
    assert response.status_code == 404


def test_the_record_is_documented_as_a_pdf(station: Station) -> None:
    schema = _client(station, Role.NURSE).get("/openapi.json").json()
    operation = schema["paths"]["/refills/{refill_id}/record.pdf"]["get"]
    assert "application/pdf" in operation["responses"]["200"]["content"]


@pytest.mark.parametrize("role", [Role.BILLING, Role.ADMIN])
def test_roles_without_clinical_access_are_refused(station: Station, role: Role) -> None:
    first, _ = _refill_ids(station)
    response = _client(station, role).get(f"/refills/{first}/record.pdf")
    assert response.status_code == 403
    assert not response.content.startswith(b"%PDF")
