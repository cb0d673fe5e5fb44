"""The pump page's chart, drawn by the service as inline SVG: a pure function from series to markup.

Top panel: reservoir volume over time (measured residuals and filled volumes at each refill, and
the forecast decline from the last known volume to the low-reservoir alarm and to empty). Bottom
panel: measured against planned flow at each refill. Dates on the time axis are clinic-local.
The SVG is built with ``xml.etree`` so every text is escaped and the markup is always well formed.
"""

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pump_service.services.pumps.chart_series import PumpSeries, VolumeKind

__all__ = ["pump_chart_svg"]

_W, _H = 760, 440
_LEFT, _RIGHT = 64, 20
_TOP = (30, 190)  # top edge of the volume panel, of the flow panel
_PANEL_H = (130, 130)
_SVG_NS = "http://www.w3.org/2000/svg"
_TICKS = 6


def _fmt(value: float) -> str:
    return f"{value:.1f}"


class _TimeAxis:
    def __init__(self, times: Sequence[datetime], zone: ZoneInfo) -> None:
        start, end = min(times), max(times)
        if end - start < timedelta(days=2):  # one visit, or all on one day: show a few days around it
            start, end = start - timedelta(days=1), end + timedelta(days=1)
        self.start, self.end, self.zone = start, end, zone

    def x(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        return _LEFT + (at - self.start).total_seconds() / span * (_W - _LEFT - _RIGHT)

    def ticks(self) -> list[datetime]:
        step = (self.end - self.start) / (_TICKS - 1)
        return [self.start + step * i for i in range(_TICKS)]


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _panel(svg: ET.Element, index: int, axis: _TimeAxis, top_value: float, unit: str, label: str) -> "_YAxis":
    top, height = _TOP[index], _PANEL_H[index]
    y_axis = _YAxis(top, height, top_value)
    group = _sub(svg, "g", class_=f"axes panel-{index}")
    _sub(group, "line", x1=str(_LEFT), y1=str(top), x2=str(_LEFT), y2=str(top + height), stroke="#5b6776")
    _sub(
        group, "line", x1=str(_LEFT), y1=str(top + height), x2=str(_W - _RIGHT), y2=str(top + height), stroke="#5b6776"
    )
    for i in range(5):
        value = top_value * i / 4
        y = y_axis.y(value)
        _sub(group, "line", x1=str(_LEFT - 4), y1=_fmt(y), x2=str(_W - _RIGHT), y2=_fmt(y), stroke="#e3e8ee")
        _sub(group, "text", f"{value:g}", class_="y-tick", x=str(_LEFT - 8), y=_fmt(y + 4), text_anchor="end")
    _sub(group, "text", f"{label} ({unit})", class_="y-label", x=str(_LEFT), y=str(top - 8))
    for tick in axis.ticks():
        x = axis.x(tick)
        _sub(group, "line", x1=_fmt(x), y1=str(top + height), x2=_fmt(x), y2=str(top + height + 4), stroke="#5b6776")
        _sub(group, "text", f"{tick.astimezone(axis.zone):%Y-%m-%d}", class_="x-tick", x=_fmt(x),
             y=str(top + height + 18), text_anchor="middle")  # fmt: skip
    return y_axis


class _YAxis:
    def __init__(self, top: int, height: int, top_value: float) -> None:
        self.top, self.height, self.top_value = top, height, top_value if top_value > 0 else 1.0

    def y(self, value: float) -> float:
        return self.top + self.height - min(value, self.top_value) / self.top_value * self.height


def pump_chart_svg(series: PumpSeries, *, zone: ZoneInfo, title: str) -> str:
    """The chart of ``series`` as an ``<svg>`` element (dates in ``zone``, volumes in mL, flows in mL/d)."""
    svg = ET.Element("svg", {"xmlns": _SVG_NS, "viewBox": f"0 0 {_W} {_H}", "role": "img", "class": "pump-chart"})
    _sub(svg, "title", title)
    forecast = series.forecast
    times = [p.at for p in series.volumes] + [f.at for f in series.flows]
    if forecast is not None:
        times += [forecast.from_at, *(t for t in (forecast.alarm_at, forecast.empty_at) if t is not None)]
    if not times:
        _sub(svg, "text", "No refills recorded yet: nothing to chart.", class_="empty", x=str(_W // 2),
             y=str(_H // 2), text_anchor="middle")  # fmt: skip
        return ET.tostring(svg, encoding="unicode")
    axis = _TimeAxis(times, zone)
    volume = _panel(svg, 0, axis, series.capacity_ml, "mL", "Reservoir volume")
    points = _sub(svg, "g", class_="volumes")
    for point in series.volumes:
        colour = "#0b5cad" if point.kind is VolumeKind.FILLED else "#c2410c"
        circle = _sub(points, "circle", class_=f"point {point.kind.value}", cx=_fmt(axis.x(point.at)),
                      cy=_fmt(volume.y(point.volume_ml)), r="4", fill=colour)  # fmt: skip
        _sub(circle, "title", f"{point.kind.value} {point.volume_ml:g} mL, {point.at.astimezone(zone):%Y-%m-%d}")
    if forecast is not None:
        line = [(forecast.from_at, forecast.from_ml)]
        if forecast.alarm_at is not None:
            line.append((forecast.alarm_at, forecast.alarm_ml))
        if forecast.empty_at is not None:
            line.append((forecast.empty_at, 0.0))
        coords = " ".join(f"{_fmt(axis.x(at))},{_fmt(volume.y(ml))}" for at, ml in line)
        _sub(svg, "polyline", class_="forecast", points=coords, fill="none", stroke="#5b6776", stroke_dasharray="6 4")
        for name, at in (("alarm", forecast.alarm_at), ("empty", forecast.empty_at)):
            if at is not None:
                ml = forecast.alarm_ml if name == "alarm" else 0.0
                _sub(svg, "text", f"{name} {at.astimezone(zone):%Y-%m-%d}", class_=f"forecast-label {name}",
                     x=_fmt(axis.x(at)), y=_fmt(volume.y(ml) - 8), text_anchor="middle")  # fmt: skip
    flows = [f for f in series.flows if f.measured_ml_per_day is not None or f.planned_ml_per_day is not None]
    top_flow = max([v for f in flows for v in (f.measured_ml_per_day, f.planned_ml_per_day) if v is not None] or [1.0])
    flow = _panel(svg, 1, axis, top_flow * 1.25, "mL/d", "Flow: measured vs planned")
    group = _sub(svg, "g", class_="flows")
    for reading in flows:
        x = axis.x(reading.at)
        if reading.planned_ml_per_day is not None:
            y = flow.y(reading.planned_ml_per_day)
            _sub(group, "rect", class_="point planned", x=_fmt(x - 4), y=_fmt(y - 4), width="8", height="8",
                 fill="none", stroke="#5b6776")  # fmt: skip
        if reading.measured_ml_per_day is not None:
            y = flow.y(reading.measured_ml_per_day)
            _sub(group, "circle", class_="point flow-measured", cx=_fmt(x), cy=_fmt(y), r="4", fill="#c2410c")
    legend = _sub(svg, "g", class_="legend")
    for i, (text, colour) in enumerate(
        (("filled", "#0b5cad"), ("measured", "#c2410c"), ("planned flow (square)", "#5b6776"), ("forecast", "#5b6776"))
    ):
        _sub(legend, "text", text, x=str(_LEFT + 150 * i), y=str(_H - 8), fill=colour)
    return ET.tostring(svg, encoding="unicode")
