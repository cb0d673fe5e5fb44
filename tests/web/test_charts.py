"""The pump chart as SVG: parsed with xml.etree, counted, labelled, escaped; empty and one-visit pumps."""

import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pump_service.services.pumps.chart_series import FlowPoint, Forecast, PumpSeries, VolumeKind, VolumePoint
from pump_service.web.charts import nice_ticks, pump_chart_svg

NS = {"svg": "http://www.w3.org/2000/svg"}
ZONE = ZoneInfo("America/New_York")
T = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _parse(series: PumpSeries, title: str = "Pump X") -> ET.Element:
    return ET.fromstring(pump_chart_svg(series, zone=ZONE, title=title))  # noqa: S314 - our own markup


def _classes(root: ET.Element, tag: str, name: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{{NS['svg']}}}{tag}") if name in (e.get("class") or "").split()]


def _texts(root: ET.Element, name: str) -> list[str]:
    return [e.text or "" for e in _classes(root, "text", name)]


def _history() -> PumpSeries:
    volumes = (
        VolumePoint(T, 30.0, VolumeKind.FILLED),
        VolumePoint(T + timedelta(days=14), 19.0, VolumeKind.MEASURED),
        VolumePoint(T + timedelta(days=14), 30.0, VolumeKind.FILLED),
        VolumePoint(T + timedelta(days=28), 20.5, VolumeKind.MEASURED),
        VolumePoint(T + timedelta(days=28), 30.0, VolumeKind.FILLED),
    )
    flows = (
        FlowPoint(T + timedelta(days=14), 0.79, 1.0),
        FlowPoint(T + timedelta(days=28), 0.68, 0.79),
    )
    forecast = Forecast(T + timedelta(days=28), 30.0, T + timedelta(days=55), 3.0, T + timedelta(days=60))
    return PumpSeries(capacity_ml=30.0, volumes=volumes, flows=flows, forecast=forecast)


def test_every_point_is_drawn_with_its_kind() -> None:
    root = _parse(_history())
    assert len(_classes(root, "circle", "filled")) == 3
    assert len(_classes(root, "circle", "measured")) == 2
    assert len(_classes(root, "circle", "flow-measured")) == 2
    assert len(_classes(root, "rect", "planned")) == 2
    tooltips = [t.text for c in _classes(root, "circle", "measured") for t in c.iter(f"{{{NS['svg']}}}title")]
    assert tooltips == ["measured 19 mL, 2026-03-16", "measured 20.5 mL, 2026-03-30"]


def test_the_forecast_runs_from_the_last_fill_to_the_alarm_and_empty_dates() -> None:
    root = _parse(_history())
    (line,) = _classes(root, "polyline", "forecast")
    points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(points) == 3
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs)
    assert ys == sorted(ys)  # later and lower (SVG y grows downwards)
    assert _texts(root, "alarm") == ["alarm 2026-04-26"]
    assert _texts(root, "empty") == ["empty 2026-05-01"]


def test_axes_carry_units_and_clinic_local_dates() -> None:
    root = _parse(_history())
    assert _texts(root, "y-label") == ["Reservoir volume (mL)", "Flow: measured vs planned (mL/d)"]
    dates = _texts(root, "x-tick")
    assert len(dates) == 12  # six ticks on each panel
    assert dates[0] == "2026-03-02"
    assert dates[5] == "2026-05-01"
    assert "30" in _texts(root, "y-tick")  # the capacity tops the volume axis


def test_a_late_evening_utc_visit_is_dated_in_the_clinic_zone() -> None:
    late = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # 21:00 on 2 March in New York
    root = _parse(PumpSeries(30.0, (VolumePoint(late, 30.0, VolumeKind.FILLED),), (), None))
    tooltips = [t.text for c in _classes(root, "circle", "filled") for t in c.iter(f"{{{NS['svg']}}}title")]
    assert tooltips == ["filled 30 mL, 2026-03-02"]


def test_a_pump_without_history_gets_a_message_and_no_points() -> None:
    root = _parse(PumpSeries(capacity_ml=20.0, volumes=(), flows=(), forecast=None))
    assert list(root.iter(f"{{{NS['svg']}}}circle")) == []
    assert _texts(root, "empty") == ["No refills recorded yet: nothing to chart."]


def test_a_single_visit_is_drawn_inside_the_axes() -> None:
    series = PumpSeries(20.0, (VolumePoint(T, 20.0, VolumeKind.FILLED),), (), None)
    root = _parse(series)
    (point,) = _classes(root, "circle", "filled")
    x = float(point.get("cx") or "nan")
    assert 64 < x < 740  # padded by a day either side, not divided by a zero time span
    assert _texts(root, "x-tick")[0] == "2026-03-01"
    assert _classes(root, "polyline", "forecast") == []


def test_text_is_escaped() -> None:
    svg = pump_chart_svg(_history(), zone=ZONE, title='Pump <A&B> "x"')
    root = ET.fromstring(svg)  # noqa: S314 - our own markup; parsing proves it well formed
    assert root.findtext("svg:title", namespaces=NS) == 'Pump <A&B> "x"'
    assert "<A&B>" not in svg


# Layout: every text's box, estimated as 0.6 x font size x characters wide and one font size tall.


def _first_fill_only() -> PumpSeries:
    """The demo pump: one first fill, nothing measured, a forecast to the alarm and to empty at the axis's end."""
    at = datetime(2026, 11, 12, 2, 17, tzinfo=UTC)
    forecast = Forecast(at, 20.0, at + timedelta(days=36), 2.0, at + timedelta(days=40))
    return PumpSeries(20.0, (VolumePoint(at, 20.0, VolumeKind.FILLED),), (), forecast)


def _alarm_near_the_top() -> PumpSeries:
    """A fast decline whose alarm level is high on the axis and whose dates crowd the right edge."""
    forecast = Forecast(T, 40.0, T + timedelta(days=1), 35.0, T + timedelta(days=1, hours=6))
    return PumpSeries(40.0, (VolumePoint(T, 40.0, VolumeKind.FILLED),), (FlowPoint(T, 47.0, 20.0),), forecast)


LAYOUTS = [_history, _first_fill_only, _alarm_near_the_top]


def _boxes(root: ET.Element) -> list[tuple[str, float, float, float, float]]:
    """(text, left, top, right, bottom) of every ``<text>`` in the chart."""
    root_size = float(root.get("font-size") or "16")
    boxes = []
    for element in root.iter(f"{{{NS['svg']}}}text"):
        text = element.text or ""
        size = float(element.get("font-size") or root_size)
        x, y = float(element.get("x") or "0"), float(element.get("y") or "0")
        width = 0.6 * size * len(text)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[element.get("text-anchor") or "start"]
        boxes.append((text, left, y - size, left + width, y + 0.2 * size))  # ascent above, descenders below
    return boxes


def _view_box(root: ET.Element) -> tuple[float, float]:
    _, _, width, height = map(float, (root.get("viewBox") or "").split())
    return width, height


@pytest.mark.parametrize("make", LAYOUTS, ids=lambda f: f.__name__.strip("_"))
def test_no_label_falls_outside_the_view_box(make: Callable[[], PumpSeries]) -> None:
    root = _parse(make())
    width, height = _view_box(root)
    outside = [b for b in _boxes(root) if b[1] < 0 or b[2] < 0 or b[3] > width or b[4] > height]
    assert outside == []


@pytest.mark.parametrize("make", LAYOUTS, ids=lambda f: f.__name__.strip("_"))
def test_no_two_labels_overlap(make: Callable[[], PumpSeries]) -> None:
    """Covers the x dates of the top panel against the flow panel's title, the forecast labels, the legend."""
    boxes = _boxes(_parse(make()))
    clashes = [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]
    assert clashes == []


def _colour(element: ET.Element) -> str | None:
    fill = element.get("fill")
    return fill if fill not in (None, "none") else element.get("stroke")


def test_legend_items_have_a_sample_in_their_series_colour_and_do_not_overlap() -> None:
    root = _parse(_history())
    items = _classes(root, "g", "legend-item")
    assert [i.findtext("svg:text", namespaces=NS) for i in items] == ["filled", "measured", "planned flow", "forecast"]
    size = float(root.get("font-size") or "16")
    spans, samples = [], []
    for item in items:
        sample, text = (e for e in item)  # the marker or line sample, then its text
        samples.append(_colour(sample))
        sample_left = (
            float(sample.get("cx") or "nan") - 4
            if sample.get("cx")
            else float(sample.get("x") or sample.get("x1") or "nan")
        )
        spans.append((sample_left, float(text.get("x") or "nan") + 0.6 * size * len(text.text or "")))
    assert all(left < right for left, right in spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))  # left to right, with a gap
    (forecast,) = _classes(root, "polyline", "forecast")
    series = [_classes(root, "circle", "filled")[0], _classes(root, "circle", "measured")[0]]
    series += [_classes(root, "rect", "planned")[0], forecast]
    assert samples == [_colour(e) for e in series]


def test_text_renders_near_13_px_at_the_page_width() -> None:
    root = _parse(_history())
    width, _ = _view_box(root)
    rendered = float(root.get("font-size") or "16") * 1100 / width
    assert 12 <= rendered <= 13.5


@pytest.mark.parametrize(
    ("top", "ticks", "labels"),
    [
        (1.2, [0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2], ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2"]),
        (20, [0, 5, 10, 15, 20], ["0", "5", "10", "15", "20"]),
        (47, [0, 10, 20, 30, 40, 50], ["0", "10", "20", "30", "40", "50"]),
        (30, [0, 10, 20, 30], ["0", "10", "20", "30"]),
        (0.055, [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06], ["0.00", "0.01", "0.02", "0.03", "0.04", "0.05", "0.06"]),
    ],
)
def test_y_ticks_are_nice(top: float, ticks: list[float], labels: list[str]) -> None:
    values, decimals = nice_ticks(top)
    assert values == pytest.approx(ticks)
    assert [f"{v:.{decimals}f}" for v in values] == labels
    step = values[1] - values[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5)
    assert values[-1] >= top > values[-2]  # the axis ends at the first nice value at or above the data


def test_the_flow_axis_shows_nice_ticks_with_headroom() -> None:
    root = _parse(_history())  # flows up to 1.0 mL/d
    ticks = _texts(root, "y-tick")
    assert ticks[:4] == ["0", "10", "20", "30"]  # volume, to the 30 mL capacity
    assert ticks[4:] == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2"]


def test_a_pump_with_only_its_first_fill_says_no_flow_is_measured_yet() -> None:
    root = _parse(_first_fill_only())
    assert _texts(root, "no-flow") == ["no flow measured yet"]
    assert _texts(root, "y-label") == ["Reservoir volume (mL)", "Flow: measured vs planned (mL/d)"]
    assert len(_texts(root, "x-tick")) == 6  # the volume panel's dates only: no empty flow grid
    assert len(_texts(root, "y-tick")) == len(nice_ticks(20.0)[0])
    assert _texts(_parse(_history()), "no-flow") == []
