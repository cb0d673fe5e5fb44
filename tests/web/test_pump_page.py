"""The pump page: device facts, drug, visits with findings and who, alarms, battery, the log (paged), the chart."""

import importlib
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, Pump
from pump_service.persistence.rows import pump_id_of
from pump_service.services.actor import Actor
from pump_service.settings import Settings
from tests.services.test_visits import Station, refill_body
from tests.web.pages_support import browser

OVERRIDE = {
    "clinician_id": "dr-2",
    "role": "physician",
    "reason": "aspiration incomplete; pocket checked",
    "codes": ["pocket_fill_suspected"],
}
NEW_RX = {"mode": "continuous", "rate_ml_per_day": "0.4 mL/d"}


def record_history(station: Station) -> Station:
    """SM-1 (programmable, baclofen) filled; 30 days later a short return, overridden, and a dose change.

    The override is a physician's co-signature where the visit wizard's co-signatures exist, the
    request's own override where they do not (this branch before the merge).
    """
    station.visit(refill_body())
    station.clock.advance(30 * 86_400)
    body = refill_body(days=30, returned=2.0, prescription=NEW_RX)
    try:
        cosign = importlib.import_module("tests.cosign_support")
        kinds = importlib.import_module("pump_service.persistence.cosignature_models")
    except ImportError:
        station.visit({**body, "override": OVERRIDE})
        return station
    payload = {"codes": OVERRIDE["codes"], "reason": OVERRIDE["reason"]}
    signed = cosign.store_cosignature(
        station.engine, "SM-1", kinds.CosignatureKind.HARD_STOP_OVERRIDE, payload,
        now=station.clock.now(), signer="dr-2", role="physician",
    )  # fmt: skip
    station.visit({**body, "cosignatures": [signed]})
    return station


@pytest.fixture
def station(engine: Engine, settings: Settings, actor: Actor) -> Station:
    return record_history(Station(engine, settings, actor))


@pytest.fixture
def nurse(station: Station) -> TestClient:
    app = create_app(station.settings, clock=station.clock, engine=station.engine)
    return browser(app, Role.NURSE)


def _svg(html: str) -> ET.Element:
    match = re.search(r"<svg.*?</svg>", html, re.S)
    assert match is not None
    return ET.fromstring(match.group(0))  # noqa: S314 - the service's own markup


def test_the_pump_page_shows_the_pump_its_drug_its_visits_and_the_chart(nurse: TestClient) -> None:
    response = nurse.get("/pumps/SM-1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "Programmable" in html or "programmable" in html
    assert "P-9" in html  # the patient reference
    assert "baclofen" in html.lower()
    assert "lot B1" in html
    assert "nurse-7 @ test-station" in html  # who recorded the visits
    assert html.count('class="record"') == 2  # one PDF per refill
    assert re.search(r'href="/refills/\d+/record.pdf"', html)
    assert "battery" in html.lower()
    assert ">OK" in html
    assert 'href="/visits/new?pump=SM-1"' in html
    svg = _svg(html)
    circles = [c for c in svg.iter("{http://www.w3.org/2000/svg}circle") if "filled" in (c.get("class") or "")]
    assert len(circles) == 2


def test_the_visits_show_the_findings_of_the_short_return(nurse: TestClient) -> None:
    html = nurse.get("/pumps/SM-1").text
    visits = html[html.index('data-testid="visits"') :]
    assert "returned 2 mL, filled 20 mL" in visits
    assert 'class="finding hard_stop">hard_stop · pocket_fill_suspected' in visits
    assert "dr-2 (physician): aspiration incomplete; pocket checked [pocket_fill_suspected]" in visits


def test_the_device_log_is_paged(nurse: TestClient, station: Station) -> None:
    with transaction(station.engine) as session:
        pump_id = pump_id_of(session.exec(select(Pump).where(Pump.serial == "SM-1")).one())
        for i in range(60):
            session.add(
                DeviceLogRecord(
                    pump_id=pump_id,
                    source="service",
                    entry_type=f"NOTE_{i:02d}",
                    recorded_at=station.clock.now() - timedelta(days=100 - i),
                    data={},
                    actor="t",
                    station_id="s",
                )
            )
    first = nurse.get("/pumps/SM-1").text
    assert first.count("<tr><td>", first.index('data-testid="log"')) == 25
    assert re.search(r"Page 1 of (\d+) \((\d+) entries\)", first)
    total = int(re.search(r"\((\d+) entries\)", first).group(1))  # type: ignore[union-attr]
    last_page = -(-total // 25)
    last = nurse.get(f"/pumps/SM-1?log_page={last_page}").text
    assert "NOTE_00" in last
    assert "NOTE_00" not in first  # the oldest entries on the last page
    assert 'rel="prev"' in last
    assert 'rel="next"' not in last
    assert nurse.get("/pumps/SM-1?log_page=0").status_code == 422


def test_the_api_keeps_the_same_path_for_json(nurse: TestClient) -> None:
    api = nurse.get("/pumps/SM-1", headers={"accept": "application/json"})
    assert api.headers["content-type"].startswith("application/json")
    assert api.json()["serial"] == "SM-1"
    api_list = nurse.get("/pumps", headers={"accept": "*/*"})  # the API's list (its shape is the API's)
    assert api_list.headers["content-type"].startswith("application/json")
    assert '"serial":"SM-1"' in api_list.text.replace(" ", "")
    listing = nurse.get("/pumps")
    assert listing.headers["content-type"].startswith("text/html")
    assert 'href="/pumps/SM-1"' in listing.text


def test_an_unknown_pump_is_a_404_page(nurse: TestClient) -> None:
    response = nurse.get("/pumps/NOPE-1")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "no pump NOPE-1" in response.text


@pytest.mark.parametrize("role", [Role.BILLING, Role.ADMIN])
def test_roles_without_clinical_access_are_refused(station: Station, role: Role) -> None:
    app = create_app(station.settings, clock=station.clock, engine=station.engine)
    response = browser(app, role).get("/pumps/SM-1")
    assert response.status_code == 403
    assert "SM-1" not in response.text or "P-9" not in response.text


def test_signed_out_is_sent_to_the_login_page(station: Station) -> None:
    app = create_app(station.settings, clock=station.clock, engine=station.engine)
    response = browser(app, None).get("/pumps/SM-1")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
