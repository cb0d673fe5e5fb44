"""A nurse's refill visit in a real browser, end to end, as the issue lists it.

Log in as a nurse, open the worklist, interrogate the simulated programmable pump, scan the
vial's barcode, enter a return 1.5 mL above what the pump should hold: on an intrathecal pump the
live check makes that a hard stop, which a physician overrides with their own password; a second
nurse verifies the fill; the confirmation shows old and new settings; the visit, judged against
the pump's register, records it with the discrepancy warning; then the next appointment, the
charges and the PDF record.
"""

import io
from datetime import date, timedelta
from typing import Any

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from pump_service.domain.access import Role
from schemas.clock import SystemClock
from tests.browser.conftest import SECOND_NURSE, LiveStation, Shots

SERIAL = "SM20-0003"
GS = "\x1d"


def _vial(expires: date, lot: str = "BAC-E2E-7") -> str:
    """A GS1 DataMatrix data string as a keyboard-wedge scanner types it (NDC-based GTIN, FNC1 as GS)."""
    return "]d2" + "0100304091234017" + "17" + expires.strftime("%y%m%d") + "10" + lot + GS + "21SN0042"


def sign_in(page: Page, live: LiveStation, role: Role, then: str) -> None:
    username, password = live.user(role)
    page.goto(f"{live.url}/login?next={then}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.select_option("#station", live.station_id)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.url.rstrip("/") != live.url:  # the worklist page may not be there yet (pages branch)
        expect(page.get_by_test_id("who")).to_contain_text(username)


def _worklist_link(page: Page) -> Any:
    return page.locator(f"a[href*='/visits/new?pump={SERIAL}']").first


def test_a_nurse_records_an_intrathecal_refill_with_a_physician_override_and_a_second_check(
    page: Page, live: LiveStation, shots: Shots
) -> None:
    page.set_default_timeout(10_000)
    sign_in(page, live, Role.NURSE, then="/")
    shots("worklist")
    expect(page.locator("h1")).to_contain_text("Worklist")
    link = _worklist_link(page)
    if not link.count():  # nothing booked today: the visit starts from the pump's page
        page.goto(f"{live.url}/pumps/{SERIAL}")
        shots("pump-page")
        link = _worklist_link(page)
    link.click()
    expect(page.get_by_test_id("previous")).to_be_visible()
    expect(page.get_by_test_id("who")).to_contain_text("nurse-e2e")
    shots("wizard-opened")

    page.click("#interrogate")
    expect(page.get_by_test_id("interrogation-table")).to_contain_text("Reservoir")
    expect(page.get_by_test_id("interrogation-table")).to_contain_text("Battery")
    shots("interrogated")

    page.fill("#scan", "(01)00304091234018(17)301231(10)X")  # a mistyped GTIN is refused, naming why
    page.press("#scan", "Enter")
    expect(page.get_by_test_id("scan-error")).to_contain_text("check digit")
    expires = SystemClock().now().date() + timedelta(days=400)
    page.fill("#scan", _vial(expires))
    page.press("#scan", "Enter")
    expect(page.get_by_test_id("scan-ok")).to_contain_text("NDC 0409123401")
    expect(page.locator("#lot")).to_have_value("BAC-E2E-7")
    expect(page.locator("#expires")).to_have_value(expires.isoformat())
    shots("scanned")

    page.select_option("#drug", "baclofen")
    page.fill("#concentration", "2")
    page.fill("#fill", "20")
    page.fill("#returned", "11.5")  # 10 mL expected back after 20 days at 0.5 mL/day
    expect(page.locator("[data-code=volume_discrepancy]")).to_contain_text("11.50 mL came back")
    expect(page.locator("[data-code=second_check_missing]")).to_be_visible()
    expect(page.locator("#review")).to_be_disabled()
    shots("hard-stop")

    physician, password = live.user(Role.PHYSICIAN)
    expect(page.get_by_test_id("override")).to_be_visible()
    page.fill("#override-user", physician)
    page.fill("#override-password", "a wrong guess")
    page.fill("#override-reason", "aspirated slowly and re-measured twice; the register will be read at the write")
    page.click("#override-sign")
    expect(page.locator("#override-result [data-testid=sign-error]")).to_contain_text("wrong password")
    page.fill("#override-password", password)
    page.click("#override-sign")
    expect(page.locator("#override-result [data-testid=signed]")).to_contain_text(physician)
    expect(page.locator("[data-code=volume_discrepancy]")).to_contain_text("(overridden)")
    shots("physician-override")

    page.fill("#check-user", SECOND_NURSE[0])
    page.fill("#check-password", SECOND_NURSE[1])
    page.click("#check-sign")
    expect(page.locator("#check-result [data-testid=signed]")).to_contain_text("nurse2-e2e")
    expect(page.locator("[data-code=second_check_missing]")).to_have_count(0)
    shots("second-check")

    page.check("#needle")
    expect(page.locator("#review")).to_be_enabled()
    page.click("#review")
    expect(page.get_by_test_id("confirm")).to_be_visible()
    expect(page.locator("#new-reservoir")).to_have_text("20.00 mL")
    expect(page.locator("#new-conc")).to_contain_text("2 mg/mL")
    shots("confirm")

    page.click("#confirm")
    page.wait_for_url("**/visits/refills/*")
    expect(page.get_by_test_id("recorded")).to_contain_text(SERIAL)
    expect(page.get_by_test_id("next-appointment")).to_contain_text("Next due")
    expect(page.get_by_test_id("findings")).to_contain_text("volume_discrepancy_warning")  # judged on the register
    expect(page.get_by_test_id("findings")).to_contain_text(f"Override by {physician}")
    expect(page.get_by_test_id("findings")).to_contain_text("Second check by nurse2-e2e")
    expect(page.get_by_test_id("charges")).to_contain_text("95990")
    shots("recorded")

    pdf_href = page.get_by_test_id("record-pdf").get_attribute("href")
    assert pdf_href is not None
    record = page.request.get(f"{live.url}{pdf_href}")
    assert record.status == 200, f"the PDF record (pages branch) answered {record.status}"
    assert record.headers["content-type"].startswith("application/pdf")
    assert record.body().startswith(b"%PDF")
    (shots.folder / "refill-record.pdf").write_bytes(record.body())
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(record.body())).pages)
    assert SERIAL in text
    assert physician in text  # who overrode
    assert SECOND_NURSE[0] in text  # who checked
