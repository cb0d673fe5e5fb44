"""A physician's visit in the browser: a stale form is refused, a hard stop is overridden in their own name.

The constant-flow HAI pump of the demo: no interrogation, no second check (intra-arterial); the
drug is entered by hand (the barcode's fallback).
"""

from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import func
from sqlmodel import select

from pump_service.domain.access import Role
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Refill
from pump_service.services.actor import Actor
from pump_service.services.contracts import ConditionEntry
from pump_service.services.pumps.registry import add_condition_period
from schemas.clock import SystemClock
from tests.browser.conftest import LiveStation, Shots
from tests.browser.test_refill_visit_e2e import sign_in

SERIAL = "HAI-0001"


def _refills(live: LiveStation) -> int:
    with transaction(live.engine) as session:
        return int(session.exec(select(func.count()).select_from(Refill)).one())


def _fill_in(page: Page, returned: str) -> None:
    page.select_option("#drug", "floxuridine")
    page.fill("#concentration", "0.3")
    page.select_option("#diluent", "saline")
    page.fill("#lot", "FU-HAND-1")  # typed: the manual fallback of the scan
    page.fill("#expires", (SystemClock().now() + timedelta(days=200)).date().isoformat())
    page.fill("#fill", "30")
    page.fill("#returned", returned)


def test_a_stale_form_is_refused_and_a_physician_overrides_in_their_own_name(
    page: Page, live: LiveStation, shots: Shots
) -> None:
    page.set_default_timeout(10_000)
    sign_in(page, live, Role.PHYSICIAN, then=f"/visits/new?pump={SERIAL}")
    expect(page.get_by_test_id("previous")).to_be_visible()
    expect(page.get_by_test_id("interrogate")).to_have_count(0)  # constant flow: nothing to interrogate
    expect(page.get_by_test_id("second-check")).to_have_count(0)  # intra-arterial: no second check

    now = SystemClock().now()
    with transaction(live.engine) as session:  # meanwhile, at another station: the pump changes
        entry = ConditionEntry(start_at=now - timedelta(minutes=1), note="fever")
        add_condition_period(session, SERIAL, entry, actor=Actor(user="nurse-x", station_id="other"), now=now)
    before = _refills(live)
    _fill_in(page, "17")
    expect(page.get_by_test_id("plan-error")).to_contain_text("changed since the form was loaded")
    shots("stale-form")

    page.reload()
    _fill_in(page, "27")  # 3 mL used in 13 days where 13 were expected: outside the pump's band
    expect(page.locator("[data-code=implausible_flow]")).to_be_visible()
    expect(page.get_by_test_id("override")).to_contain_text("in your own name")
    page.fill("#override-reason", "pump emptied and flushed at angiography last week; refill as planned")
    page.click("#override-sign")
    expect(page.locator("[data-code=implausible_flow]")).to_contain_text("(overridden)")
    shots("own-override")
    page.check("#needle")
    page.click("#review")
    page.dblclick("#confirm")  # a double click records once
    page.wait_for_url("**/visits/refills/*")
    physician, _ = live.user(Role.PHYSICIAN)
    expect(page.get_by_test_id("findings")).to_contain_text(f"Override by {physician} (physician)")
    shots("recorded")
    assert _refills(live) == before + 1
