"""The worklist: the day's appointments, overdue pumps and open escalations, each pump with its drug and last result."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import select

from pump_service.domain.access import Role
from pump_service.persistence.db import transaction
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus
from pump_service.services.actor import Actor
from pump_service.services.scheduling.notifications import process_due
from pump_service.settings import Settings
from tests.charge_support import bill_refill, billed_body, register_hai
from tests.support import FixedClock
from tests.web.pages_support import browser


@pytest.fixture
def booked(engine: Engine, settings: Settings, actor: Actor) -> Appointment:
    """HAI-1 filled with floxuridine at T0; the next refill is booked."""
    register_hai(engine, actor)
    bill_refill(engine, settings, actor, billed_body())
    with transaction(engine) as session:
        appointment = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED)).one()
        session.expunge(appointment)
    return appointment


def _section(html: str, name: str) -> str:
    start = html.index(f'data-testid="{name}"')
    return html[start : html.index("</table>", start)]


def test_the_day_shows_its_appointment_with_the_drug_and_last_result(
    app: FastAPI, clock: FixedClock, booked: Appointment
) -> None:
    clock.set(booked.target_at - timedelta(hours=1))  # early on the day of the visit, before the due time
    assert booked.target_at < booked.starts_at
    response = browser(app, Role.NURSE).get("/worklist")
    assert response.status_code == 200
    html = response.text
    assert f"Worklist · Refill clinic · {booked.local_day.isoformat()}" in html
    appointments = _section(html, "appointments")
    assert 'href="/pumps/HAI-1"' in appointments
    assert 'href="/visits/new?pump=HAI-1"' in appointments
    assert "Floxuridine" in appointments  # the drug in the pump
    assert "last refill 2026-11-02 04:00 America/New_York" in appointments  # clinic-local, labelled
    assert 'class="tier warning"' in appointments or 'class="tier info"' in appointments
    assert "Nothing overdue." in _section(html, "overdue")
    assert "No open escalations." in _section(html, "escalations")


def test_another_day_and_an_unknown_clinic(app: FastAPI, booked: Appointment) -> None:
    nurse = browser(app, Role.NURSE)
    other = (booked.local_day + timedelta(days=1)).isoformat()
    assert "No appointments this day." in nurse.get(f"/worklist?day={other}").text
    day = nurse.get(f"/worklist?clinic=main&day={booked.local_day.isoformat()}").text
    assert 'href="/pumps/HAI-1"' in _section(day, "appointments")
    unknown = nurse.get("/worklist?clinic=nowhere")
    assert unknown.status_code == 404
    assert "no clinic nowhere" in unknown.text


def test_a_missed_visit_is_overdue_and_escalated(
    app: FastAPI, clock: FixedClock, settings: Settings, engine: Engine, booked: Appointment
) -> None:
    clock.set(booked.ends_at + timedelta(hours=settings.overdue_grace_hours, minutes=5))
    with transaction(engine) as session:
        process_due(session, settings=settings, now=clock.now())
    html = browser(app, Role.PHYSICIAN).get("/worklist").text
    overdue = _section(html, "overdue")
    assert "visit passed without a refill" in overdue
    assert 'href="/pumps/HAI-1"' in overdue
    escalations = _section(html, "escalations")
    assert "overdue: pump HAI-1: refill appointment passed without a recorded refill" in escalations


def test_a_manager_reads_it_without_the_visit_links(app: FastAPI, booked: Appointment) -> None:
    html = browser(app, Role.MANAGER).get(f"/worklist?day={booked.local_day.isoformat()}").text
    assert 'href="/pumps/HAI-1"' in html
    assert "/visits/new" not in html  # a manager records no visits


@pytest.mark.parametrize("role", [Role.BILLING, Role.ADMIN])
def test_roles_without_clinical_access_are_refused(app: FastAPI, role: Role, booked: Appointment) -> None:
    response = browser(app, role).get("/worklist")
    assert response.status_code == 403
    assert "HAI-1" not in response.text


def test_signed_out_is_sent_to_the_login_page(app: FastAPI) -> None:
    response = browser(app, None).get("/worklist?day=2026-11-20")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/worklist%3Fday%3D2026-11-20"


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "9999-12-30"])
def test_a_day_at_the_end_of_the_calendar_is_refused_not_a_crash(app: FastAPI, day: str) -> None:
    """The day's sheet reaches into the next day: 9999-12-31 overflowed (500) before the date was bounded."""
    nurse = browser(app, Role.NURSE)
    refused = nurse.get(f"/worklist?day={day}")
    assert refused.status_code == 422, refused.text[-2000:]
    assert refused.headers["content-type"].startswith("application/problem+json")
    billing = browser(app, Role.BILLING)
    assert billing.get(f"/billing/batches/main/{day}").status_code == 422
