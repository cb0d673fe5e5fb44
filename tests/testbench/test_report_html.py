"""The HTML report: a well-formed offline page, its tables, and figures with one mark per datum."""

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser

import pytest

from testbench.report_charts import HISTOGRAM_BINS
from testbench.report_headline import headline_rows
from testbench.report_html import score_html
from testbench.score import ClinicScore
from tests.testbench.test_report_scores import HOSTILE_SERIAL, OVER_CAPACITY_DAYS, clean_score, clinic_score

_VOID = {"meta", "br", "link", "img", "input", "hr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list["Node"] = field(default_factory=list)
    text: str = ""

    def iter(self) -> Iterator["Node"]:
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list["Node"]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in n.attrs.get("class", "").split())]

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


class _TreeBuilder(HTMLParser):
    """A strict little tree: every element must be closed in order, or the page is not well formed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


def parse(page: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


@pytest.fixture(scope="module")
def score() -> ClinicScore:
    return clinic_score()


@pytest.fixture(scope="module")
def page(score: ClinicScore) -> str:
    return score_html(score)


@pytest.fixture(scope="module")
def document(page: str) -> Node:
    return parse(page)


def _svgs(document: Node, kind: str) -> list[Node]:
    return document.find_all("svg", kind)


def test_the_page_is_one_self_contained_document(page: str, document: Node) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not document.find_all("script")
    assert not document.find_all("link")
    assert not document.find_all("img")
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # only the SVG namespace, never fetched
    assert "https://" not in page
    assert document.find_all("style")
    viewport = [m for m in document.find_all("meta") if m.attrs.get("name") == "viewport"]
    assert viewport
    assert "width=device-width" in viewport[0].attrs["content"]


def test_every_figure_is_well_formed_svg(page: str, document: Node) -> None:
    start = 0
    count = 0
    while (begin := page.find("<svg", start)) != -1:
        end = page.index("</svg>", begin) + len("</svg>")
        ET.fromstring(page[begin:end])  # noqa: S314  # our own output; raises on markup that is not well formed
        start, count = end, count + 1
    assert count == len(document.find_all("svg")) == 3 + 2  # 3 sampled pumps, the histogram, capacity


def test_the_headline_table_holds_every_figure_target_and_verdict(score: ClinicScore, document: Node) -> None:
    table = document.find_all("table", "headline")[0]
    rows = [[cell.all_text() for cell in tr.find_all("td")] for tr in table.find_all("tr")][1:]
    expected = [[row.label, row.value, row.target, "" if row.verdict.name == "NOT_JUDGED" else row.verdict.value]
                for row in headline_rows(score)]  # fmt: skip
    assert rows == expected


def test_every_incident_and_fault_has_its_row(score: ClinicScore, document: Node) -> None:
    incidents = document.find_all("table", "incidents")[0].find_all("tr")[1:]
    cells = sorted([cell.all_text() for cell in tr.find_all("td")] for tr in incidents)
    assert cells == sorted(
        [i.serial, i.kind.value, f"{i.at_day:.1f}", i.cause.value, i.detail] for i in score.incidents
    )
    faults = document.find_all("table", "faults")[0].find_all("tr")[1:]
    assert len(faults) == len(score.faults)
    never = [tr for tr in faults if "never" in tr.all_text()]
    assert len(never) == 1
    assert "CF40-0105" in never[0].all_text()


def test_a_hostile_serial_and_detail_are_escaped(page: str, document: Node) -> None:
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;[bold]SM20" in page
    assert HOSTILE_SERIAL in document.all_text()  # and the reader sees it as typed


def test_one_small_multiple_per_sampled_pump_with_its_line_alarm_bookings_and_refills(
    score: ClinicScore, document: Node
) -> None:
    charts = _svgs(document, "trajectory")
    assert len(charts) == len(score.samples)
    for chart, trace in zip(charts, score.samples, strict=True):
        assert len(chart.find_all("path", "volume")) == 1
        assert len(chart.find_all("line", "alarm")) == 1
        assert len(chart.find_all("line", "booking")) == len(trace.bookings_days)
        assert len(chart.find_all("path", "refill")) == len(trace.refills_days)
        points = chart.find_all("path", "volume")[0].attrs["d"].count(",")
        assert points == len(trace.times_days)


def test_the_histogram_has_one_bar_per_bin_with_its_count(score: ClinicScore, document: Node) -> None:
    (chart,) = _svgs(document, "histogram")
    bars = chart.find_all("rect", "bin")
    assert len(bars) == len(HISTOGRAM_BINS)
    counts = [int(bar.find_all("title")[0].all_text().split(": ")[1].split()[0]) for bar in bars]
    assert sum(counts) == len(score.safe_interval_fractions)
    assert counts[-1] == 1  # the refill at 1.08 of its safe interval, and only it, is past it
    assert counts[9] == 4  # 0.9 to 1.0, with 1.0 itself
    assert len(chart.find_all("rect", "over")) == 1
    heights = [float(bar.attrs["height"]) for bar in bars]
    assert heights.index(max(heights)) == 9


def test_capacity_has_one_bar_per_day_and_marks_each_violation(score: ClinicScore, document: Node) -> None:
    (chart,) = _svgs(document, "capacity")
    assert len(chart.find_all("rect", "day")) == len(score.capacity_per_day)
    violations = chart.find_all("rect", "violation")
    assert len(violations) == len(chart.find_all("path", "violation-mark")) == len(OVER_CAPACITY_DAYS)
    titles = [bar.find_all("title")[0].all_text() for bar in violations]
    assert titles == [f"day {day}: 5 booked, capacity 4" for day in OVER_CAPACITY_DAYS]
    assert len(chart.find_all("path", "capacity")) == 1


def test_every_chart_has_a_title_axis_labels_with_units_and_a_text_alternative(document: Node) -> None:
    ids = [node.attrs["id"] for node in document.iter() if "id" in node.attrs]
    assert len(ids) == len(set(ids))
    for chart in document.find_all("svg"):
        assert chart.attrs["role"] == "img"
        title_id, desc_id = chart.attrs["aria-labelledby"].split()
        assert next(n.attrs.get("id") for n in chart.find_all("title")) == title_id
        (desc,) = [n for n in chart.find_all("desc") if n.attrs.get("id") == desc_id]
        assert len(desc.all_text()) > 40
        assert chart.find_all("text", "chart-title")
        labels = [label.all_text() for label in chart.find_all("text", "axis-label")]
        assert len(labels) == 2
        assert all("(" in label and ")" in label for label in labels), labels  # a unit in brackets


def test_the_text_alternatives_state_the_facts(document: Node) -> None:
    (capacity,) = _svgs(document, "capacity")
    assert "2 days over capacity: 17, 52." in capacity.find_all("desc")[0].all_text()
    (histogram,) = _svgs(document, "histogram")
    assert "1 refills came after the safe interval had run out" in histogram.find_all("desc")[0].all_text()
    first = _svgs(document, "trajectory")[0].find_all("desc")[0].all_text()
    assert "SM20-0003" in first
    assert "Refills on days 30.0, 44.0, 75.0." in first


def test_a_run_with_nothing_to_show_still_renders_every_section() -> None:
    empty = replace(clean_score(), samples=(), safe_interval_fractions=(), capacity_per_day=())
    document = parse(score_html(empty))
    text = document.all_text()
    assert "No pump reached its alarm or ran dry." in text
    assert "No fault was injected." in text
    assert "No pump was sampled." in text
    assert len(_svgs(document, "histogram")) == 1
    assert len(_svgs(document, "capacity")) == 1
    bins = _svgs(document, "histogram")[0].find_all("rect", "bin")
    assert len(bins) == len(HISTOGRAM_BINS)
    assert {bar.attrs["height"] for bar in bins} == {"0.0"}
    assert "No clinic days." in _svgs(document, "capacity")[0].all_text()


def test_a_constant_flow_pump_names_its_line_the_residual_floor(document: Node) -> None:
    programmable, constant_flow = _svgs(document, "trajectory")[:2]
    assert programmable.find_all("text", "alarm-label")[0].all_text() == "alarm 2 mL"
    assert constant_flow.find_all("text", "alarm-label")[0].all_text() == "floor 3 mL"
    assert "constant-flow pump CF40-0102" in constant_flow.find_all("desc")[0].all_text()
    assert "at or below the floor" in constant_flow.find_all("desc")[0].all_text()


def _x_ticks(chart: Node) -> list[str]:
    return [tick.all_text() for tick in chart.find_all("text", "x-tick")]


def test_the_small_multiples_share_one_time_axis_even_when_a_booking_lies_past_the_run() -> None:
    score = clinic_score()
    late = replace(score.samples[1], bookings_days=(*score.samples[1].bookings_days, 110.0))
    document = parse(score_html(replace(score, samples=(score.samples[0], late, score.samples[2]))))
    ticks = [_x_ticks(chart) for chart in _svgs(document, "trajectory")]
    assert ticks[0] == ticks[1] == ticks[2]
    assert "100" in ticks[0]


def test_capacity_days_are_counted_from_the_start_of_the_run() -> None:
    score = clinic_score()
    from_day_two = tuple(day for day in score.capacity_per_day if day.day >= 2)
    document = parse(score_html(replace(score, capacity_per_day=from_day_two)))
    assert _x_ticks(_svgs(document, "capacity")[0])[:2] == ["0", "20"]
