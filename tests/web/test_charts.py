"""The pump chart as SVG: parsed with xml.etree, counted, labelled, escaped; empty and one-visit pumps."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pump_service.services.pumps.chart_series import FlowPoint, Forecast, PumpSeries, VolumeKind, VolumePoint
from pump_service.web.charts import pump_chart_svg

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
