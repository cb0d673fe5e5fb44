"""The clinic report page in Chromium: it fetches nothing, reads in a narrow window, keeps every label inside its chart.

"Reads" is measured: the page never scrolls sideways (wide tables and figures scroll in their own
box), and every chart's text renders between 9 and 15 px whatever the window's width.

Uses the browser tests' setup (Debian's Chromium, skipped without it) but not the live server:
the report is a file. Screenshots go to ``test-artifacts/browser/<test>/``.
"""

from pathlib import Path

import pytest
from playwright.sync_api import Page, Request

from testbench.report_html import score_html
from tests.browser.conftest import Shots
from tests.testbench.test_report_scores import HOSTILE_SERIAL, clinic_score

# Every text's rendered box (rotation included) inside its own SVG's box, with half a pixel of slack.
_LABELS_OUTSIDE = """() => {
  const outside = [];
  for (const svg of document.querySelectorAll("svg")) {
    const frame = svg.getBoundingClientRect();
    for (const text of svg.querySelectorAll("text")) {
      const b = text.getBoundingClientRect();
      if (b.left < frame.left - 0.5 || b.top < frame.top - 0.5 || b.right > frame.right + 0.5
          || b.bottom > frame.bottom + 0.5) {
        outside.push(svg.getAttribute("class") + ": " + text.textContent);
      }
    }
  }
  return outside;
}"""


# The rendered size of each chart's text: its font size in viewBox units times the drawn scale.
_FONT_PX = """() => Object.fromEntries([...document.querySelectorAll("svg")].map((svg, i) => [
  i + " " + svg.getAttribute("class"),
  svg.getBoundingClientRect().width / svg.viewBox.baseVal.width * Number(svg.getAttribute("font-size")),
]))"""


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "clinic-score.html"
    path.write_text(score_html(clinic_score()), encoding="utf-8")
    return path


@pytest.mark.parametrize(("width", "name"), [(1200, "wide"), (390, "narrow")])
def test_the_report_reads_at_any_width_and_fetches_nothing(
    page: Page, shots: Shots, report: Path, width: int, name: str
) -> None:
    requests: list[str] = []

    def note(request: Request) -> None:
        requests.append(request.url)

    page.on("request", note)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(report.as_uri())
    assert requests == [report.as_uri()]  # the page itself, and nothing from anywhere else
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page scrolls sideways: a table or figure is wider than the window"
    font_px = page.evaluate(_FONT_PX)
    assert len(font_px) == 5  # 3 sampled pumps, the histogram, capacity
    assert all(9 <= px <= 15 for px in font_px.values()), font_px  # readable, never shouting
    assert page.evaluate(_LABELS_OUTSIDE) == []
    assert page.get_by_text(HOSTILE_SERIAL, exact=True).count() == 1  # the incident's serial, shown as typed
    shots(name)
