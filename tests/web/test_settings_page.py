"""The clinic settings page: renders for managers; a stale form is a 409 and a bad value a 422, nothing written."""

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from pump_service.domain.access import Role
from pump_service.persistence.charge_models import ClinicBilling
from pump_service.persistence.db import transaction
from pump_service.persistence.schedule_models import Clinic, ClinicChange, ClinicHoliday
from pump_service.services.actor import Actor
from pump_service.services.scheduling.clinic_admin import change_clinic
from pump_service.services.scheduling.contracts import ClinicChanges
from pump_service.settings import Settings
from tests.auth_support import ensure_bench_station
from tests.support import T0, FixedClock
from tests.web.pages_support import browser

PAGE = "/clinics/main/settings"


@pytest.fixture
def clinic(engine: Engine, settings: Settings) -> str:
    ensure_bench_station(engine, settings)  # creates the station's clinic, "main"
    return "main"


def _stored(engine: Engine) -> tuple[dict[str, object], int, int, int]:
    """The clinic's settings and how many changes, holidays and billing versions are stored."""
    with transaction(engine) as session:
        row = session.exec(select(Clinic).where(Clinic.clinic_id == "main")).one()
        values = {k: getattr(row, k) for k in ("name", "opens_at", "closes_at", "slot_minutes", "capacity_per_day")}
        values["reminder_days"] = list(row.reminder_days)
        counts = [len(session.exec(select(t)).all()) for t in (ClinicChange, ClinicHoliday, ClinicBilling)]
    return values, counts[0], counts[1], counts[2]


def _form(client: TestClient, testid: str) -> dict[str, object]:
    """The fields of the form ``testid`` as the browser would post them (checked boxes only)."""
    html = client.get(PAGE).text
    start = html.index(f'data-testid="{testid}"')
    form = html[start : html.index("</form>", start)]
    fields: dict[str, object] = {}
    days: list[str] = []
    for tag in re.findall(r"<input [^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is None or ('type="checkbox"' in tag and "checked" not in tag):
            continue
        if name.group(1) == "working_days":
            days.append(value.group(1) if value else "")
            fields["working_days"] = days
        else:
            fields[name.group(1)] = value.group(1) if value else ""
    for select_tag in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', select_tag[1])
        fields[select_tag[0]] = chosen.group(1) if chosen else ""
    return fields


def test_the_page_shows_the_calendar_holidays_reminders_and_billing(app: FastAPI, clinic: str) -> None:
    response = browser(app, Role.MANAGER).get(PAGE)
    assert response.status_code == 200
    html = response.text
    assert "Settings of Refill clinic" in html
    assert 'name="opens_at" value="08:00"' in html
    assert 'name="reminder_days" value="7, 1"' in html
    assert 'value="0" checked' in html
    assert 'value="6" checked' not in html  # Monday on, Sunday off
    assert "The packaged defaults apply." in html
    assert 'data-testid="holiday-form"' in html


def test_the_manager_changes_the_calendar(app: FastAPI, engine: Engine, clinic: str) -> None:
    manager = browser(app, Role.MANAGER)
    form = _form(manager, "calendar-form") | {"closes_at": "17:30", "capacity_per_day": "12", "reminder_days": "3"}
    done = manager.post(PAGE, data=form)
    assert (done.status_code, done.headers["location"]) == (303, f"{PAGE}?saved=calendar")
    values, changes, _, _ = _stored(engine)
    assert (values["closes_at"], values["capacity_per_day"], values["reminder_days"]) == ("17:30", 12, [3])
    assert changes == 2  # created, changed
    with transaction(engine) as session:
        change = session.exec(select(ClinicChange).order_by(col(ClinicChange.id).desc())).first()
    assert change is not None
    assert change.changed_by.startswith("manager-")
    assert "Saved: calendar." in manager.get(f"{PAGE}?saved=calendar").text


def test_a_stale_form_is_a_conflict_and_writes_nothing(
    app: FastAPI, engine: Engine, clinic: str, clock: FixedClock
) -> None:
    manager = browser(app, Role.MANAGER)
    form = _form(manager, "calendar-form") | {"capacity_per_day": "10"}
    with transaction(engine) as session:  # someone else changes the clinic after the form was loaded
        change_clinic(session, "main", ClinicChanges(reminder_days=[2]), actor=Actor("other-1", "s-2"), now=T0)
    before = _stored(engine)
    refused = manager.post(PAGE, data=form)
    assert refused.status_code == 409
    assert "changed after this form was loaded" in refused.text
    assert "Nothing was saved" in refused.text
    assert _stored(engine) == before
    assert before[0]["reminder_days"] == [2]
    assert before[0]["capacity_per_day"] == 16  # the other change stands


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"slot_minutes": "abc"}, "slot_minutes", "a whole number"),
        ({"capacity_per_day": "0"}, "capacity_per_day", "greater than 0"),
        ({"opens_at": "25:00"}, "opens_at", "should match pattern"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"reminder_days": "7, 99"}, "reminder_days", "0-60 days"),
        ({"working_days": []}, "working_days", "at least one"),
        ({"closes_at": "07:00"}, "closes_at", "must close after it opens"),  # checked on the merged calendar
        ({"slot_minutes": "60"}, "capacity_per_day", "exceeds the 8 slots"),  # 16 a day no longer fit
    ],
)
def test_invalid_values_re_render_the_form_with_field_errors(
    app: FastAPI, engine: Engine, clinic: str, change: dict[str, object], field: str, message: str
) -> None:
    manager = browser(app, Role.MANAGER)
    before = _stored(engine)
    form = _form(manager, "calendar-form") | change
    refused = manager.post(PAGE, data=form)
    assert refused.status_code == 422
    error = re.search(r'<p class="error field-error" data-field="([a-z_]+)" role="alert">([^<]*)</p>', refused.text)
    assert error is not None, refused.text[-2000:]
    assert (error.group(1), message in error.group(2)) == (field, True), error.group(2)
    assert _stored(engine) == before
    for name, value in change.items():  # the form keeps what was typed
        if isinstance(value, str):
            assert f'name="{name}" value="{value}"' in refused.text


def test_a_closure_is_added_and_removed(app: FastAPI, engine: Engine, clinic: str, clock: FixedClock) -> None:
    manager = browser(app, Role.MANAGER)
    day = (T0 + timedelta(days=8)).date()  # a Tuesday
    form = _form(manager, "holiday-form") | {"day": day.isoformat(), "name": "Staff training"}
    added = manager.post("/clinics/main/settings/holidays", data=form)
    assert added.status_code == 303, added.text[-3000:]
    html = manager.get(PAGE).text
    assert f"<td>{day.isoformat()}</td><td>Staff training</td>" in html
    remove = _form(manager, "holidays")
    gone = manager.post(f"/clinics/main/settings/holidays/{day.isoformat()}/remove", data=remove)
    assert gone.status_code == 303
    assert _stored(engine)[2] == 0


def test_a_closure_on_a_past_day_is_a_field_error(app: FastAPI, engine: Engine, clinic: str) -> None:
    manager = browser(app, Role.MANAGER)
    before = _stored(engine)
    form = _form(manager, "holiday-form") | {"day": "2026-10-01", "name": "Too late"}
    refused = manager.post("/clinics/main/settings/holidays", data=form)
    assert refused.status_code == 422
    assert "is in the past" in refused.text
    assert _stored(engine) == before


def test_a_billing_set_up_version_is_stored_and_a_bad_one_refused(app: FastAPI, engine: Engine, clinic: str) -> None:
    manager = browser(app, Role.MANAGER)
    bad = _form(manager, "billing-form") | {"effective_from": "2026-11-01", "place_of_service": "X1"}
    refused = manager.post("/clinics/main/settings/billing", data=bad)
    assert refused.status_code == 422
    assert 'data-field="place_of_service"' in refused.text
    assert _stored(engine)[3] == 0
    good = _form(manager, "billing-form") | {"effective_from": "2026-11-01", "place_of_service": "22", "note": "HOPD"}
    assert manager.post("/clinics/main/settings/billing", data=good).status_code == 303
    assert _stored(engine)[3] == 1
    assert "<td>1</td><td>2026-11-01</td>" in manager.get(PAGE).text


def test_a_form_without_the_csrf_token_is_refused(app: FastAPI, engine: Engine, clinic: str) -> None:
    manager = browser(app, Role.MANAGER)
    form = _form(manager, "calendar-form") | {"capacity_per_day": "10"}
    form.pop("csrf_token")
    before = _stored(engine)
    assert manager.post(PAGE, data=form).status_code == 403
    assert manager.post(PAGE, data=form | {"csrf_token": "forged"}).status_code == 403
    assert _stored(engine) == before


def test_unknown_clinic_is_a_404_page(app: FastAPI, clinic: str) -> None:
    response = browser(app, Role.MANAGER).get("/clinics/nowhere/settings")
    assert response.status_code == 404
    assert "no clinic nowhere" in response.text


@pytest.mark.parametrize("role", [Role.NURSE, Role.BILLING, Role.ADMIN])
def test_other_roles_are_refused_reading_and_writing(app: FastAPI, engine: Engine, clinic: str, role: Role) -> None:
    form = _form(browser(app, Role.MANAGER), "calendar-form") | {"capacity_per_day": "10"}
    client = browser(app, role)
    assert client.get(PAGE).status_code == 403
    before = _stored(engine)
    token = re.search(r'content="([^"]+)"', client.get("/docs").text)
    form["csrf_token"] = token.group(1) if token else ""
    assert client.post(PAGE, data=form).status_code == 403
    assert _stored(engine) == before


def test_the_navigation_link_leads_to_the_stations_clinic(app: FastAPI, clinic: str) -> None:
    manager = browser(app, Role.MANAGER)
    assert 'href="/clinic-settings"' in manager.get(PAGE).text
    assert manager.get("/clinic-settings").headers["location"] == PAGE


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_closure_at_the_end_of_the_calendar_is_refused_not_a_crash(
    app: FastAPI, engine: Engine, clinic: str, day: str
) -> None:
    manager = browser(app, Role.MANAGER)
    before = _stored(engine)
    added = manager.post(
        "/clinics/main/settings/holidays", data=_form(manager, "holiday-form") | {"day": day, "name": "x"}
    )
    assert added.status_code == 422, added.text[-2000:]
    removed = manager.post(f"/clinics/main/settings/holidays/{day}/remove", data=_form(manager, "holidays"))
    assert removed.status_code == 422, removed.text[-2000:]
    assert _stored(engine) == before
