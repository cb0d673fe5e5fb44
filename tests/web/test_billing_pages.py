"""Billing views: today's batches, a daily batch, a visit's charges; the void form with CSRF and its permission."""

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import col, select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor
from pump_service.settings import Settings
from tests.charge_support import bill_refill, billed_body, register_hai
from tests.support import FixedClock
from tests.web.pages_support import browser, csrf_of

BATCH = "/billing/batches/main/2026-11-02"  # T0 is 2 November in the clinic's zone


@pytest.fixture
def charges(engine: Engine, settings: Settings, actor: Actor) -> list[ChargeEventRow]:
    """The stored charge lines of one billed HAI refill at T0."""
    register_hai(engine, actor)
    bill_refill(engine, settings, actor, billed_body(), visit_key="visit-hai-1")
    return _rows(engine)


def _rows(engine: Engine) -> list[ChargeEventRow]:
    with transaction(engine) as session:
        rows = list(session.exec(select(ChargeEventRow).order_by(col(ChargeEventRow.id))).all())
        for row in rows:
            session.expunge(row)
    return rows


def _billable(rows: list[ChargeEventRow]) -> list[ChargeEventRow]:
    return [r for r in rows if r.kind == "charge" and r.status == "billable"]


def test_todays_batches_with_totals(app: FastAPI, charges: list[ChargeEventRow]) -> None:
    response = browser(app, Role.BILLING).get("/billing")
    assert response.status_code == 200
    html = response.text
    assert f'href="{BATCH}"' in html
    lines = len([r for r in charges if r.kind == "charge"])
    assert f"1 visit(s), {lines} charge line(s), {len(_billable(charges))} billable" in html
    assert re.search(r"<td>medicare</td><td>\d+</td><td>\d+</td><td>\$\d+\.\d\d</td>", html)


def test_the_daily_batch_lists_each_charge_with_a_void_form_for_billing_staff(
    app: FastAPI, charges: list[ChargeEventRow]
) -> None:
    html = browser(app, Role.BILLING).get(BATCH).text
    for row in charges:
        assert f'data-event="{row.event_id}"' in html
    assert html.count('class="void-form"') == len([r for r in charges if r.kind == "charge"])
    assert "A4220" in html  # the refill kit


def test_a_visits_charges(app: FastAPI, charges: list[ChargeEventRow]) -> None:
    billing = browser(app, Role.BILLING)
    html = billing.get("/visits/visit-hai-1/charges").text
    assert "Charges of visit visit-hai-1" in html
    assert all(f'data-event="{row.event_id}"' in html for row in charges)
    assert billing.get("/visits/no-such-visit/charges").status_code == 404


def test_a_manager_reads_the_batch_but_gets_no_void_form_and_the_server_refuses_one(
    app: FastAPI, engine: Engine, charges: list[ChargeEventRow]
) -> None:
    manager = browser(app, Role.MANAGER)
    html = manager.get(BATCH).text
    assert f'data-event="{charges[0].event_id}"' in html
    assert "void-form" not in html
    token = csrf_of(manager, BATCH)
    refused = manager.post(
        f"/billing/charges/{charges[0].event_id}/void",
        data={"csrf_token": token, "reason": "wrong code", "back": BATCH},
    )
    assert refused.status_code == 403
    assert _rows(engine) == charges


def test_billing_voids_a_charge_through_the_form(app: FastAPI, engine: Engine, charges: list[ChargeEventRow]) -> None:
    billing = browser(app, Role.BILLING)
    target = _billable(charges)[0]
    token = csrf_of(billing, BATCH)
    done = billing.post(
        f"/billing/charges/{target.event_id}/void", data={"csrf_token": token, "reason": "kit not used", "back": BATCH}
    )
    assert done.status_code == 303
    assert done.headers["location"] == BATCH
    after = {r.event_id: r for r in _rows(engine)}
    assert after[target.event_id].voided_by_event_id is not None
    assert len(after) == len(charges) + 1  # one void event added
    html = billing.get(BATCH).text
    row = html[html.index(f'data-event="{target.event_id}"') :]
    assert '<td class="status">voided</td>' in row[: row.index("</tr>")]
    again = billing.post(
        f"/billing/charges/{target.event_id}/void", data={"csrf_token": token, "reason": "kit not used", "back": BATCH}
    )
    assert again.status_code == 409
    assert "already corrected" in again.text
    assert len(_rows(engine)) == len(charges) + 1


@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing", "forged"])
def test_a_void_without_the_sessions_csrf_token_is_refused(
    app: FastAPI, engine: Engine, charges: list[ChargeEventRow], token: str | None
) -> None:
    billing = browser(app, Role.BILLING)
    data = {"reason": "kit not used", "back": BATCH} | ({"csrf_token": token} if token else {})
    refused = billing.post(f"/billing/charges/{_billable(charges)[0].event_id}/void", data=data)
    assert refused.status_code == 403
    assert _rows(engine) == charges


def test_a_blank_reason_is_refused_and_nothing_stored(
    app: FastAPI, engine: Engine, charges: list[ChargeEventRow]
) -> None:
    billing = browser(app, Role.BILLING)
    token = csrf_of(billing, BATCH)
    refused = billing.post(f"/billing/charges/{_billable(charges)[0].event_id}/void", data={"csrf_token": token})
    assert refused.status_code == 422
    assert _rows(engine) == charges


@pytest.mark.parametrize("role", [Role.NURSE, Role.PHYSICIAN, Role.ADMIN])
def test_clinical_and_admin_roles_are_refused(app: FastAPI, role: Role, charges: list[ChargeEventRow]) -> None:
    client = browser(app, role)
    for path in ("/billing", BATCH, "/visits/visit-hai-1/charges"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert charges[0].event_id not in response.text


def test_signed_out_is_sent_to_the_login_page(app: FastAPI) -> None:
    response = browser(app, None).get("/billing")
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/billing")


def test_billing_sends_the_due_charges_to_the_billing_systems_folder(
    settings: Settings, engine: Engine, clock: FixedClock, tmp_path: Path, charges: list[ChargeEventRow]
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    app = create_app(settings.model_copy(update={"charge_drop_folder": str(drop)}), clock=clock, engine=engine)
    billing = browser(app, Role.BILLING)
    page = billing.get("/billing").text
    pending = len([r for r in charges if r.delivery_status == "pending"])
    assert f"{pending} charge event(s) waiting" in page
    sent = billing.post("/billing/send", data={"csrf_token": csrf_of(billing, "/billing")})
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/billing?sent=delivered:")
    assert list(drop.iterdir())  # the export landed where the billing system picks it up
    assert {r.delivery_status for r in _rows(engine)} <= {"delivered", "skipped"}
    after = billing.get(sent.headers["location"]).text
    assert "Sent to the billing system: delivered" in after
    assert "0 charge event(s) waiting" in after


def test_sending_is_refused_without_a_billing_system_and_for_a_manager(
    app: FastAPI, engine: Engine, charges: list[ChargeEventRow]
) -> None:
    billing = browser(app, Role.BILLING)
    refused = billing.post("/billing/send", data={"csrf_token": csrf_of(billing, "/billing")})
    assert refused.status_code == 409
    assert "No billing system configured" in refused.text
    manager = browser(app, Role.MANAGER)
    assert 'data-testid="send-form"' not in manager.get("/billing").text
    assert manager.post("/billing/send", data={"csrf_token": csrf_of(manager, "/billing")}).status_code == 403
    assert billing.post("/billing/send", data={"csrf_token": "forged"}).status_code == 403
    assert _rows(engine) == charges
