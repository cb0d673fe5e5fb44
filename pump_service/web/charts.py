"""The pump page's chart, drawn by the service as inline SVG: a pure function from series to markup.

Top panel: reservoir volume over time (measured residuals and filled volumes at each refill, and
the forecast decline from the last known volume to the low-reservoir alarm and to empty). Bottom
panel: measured against planned flow at each refill. Dates on the time axis are clinic-local.
The SVG is built with ``xml.etree`` so every text is escaped and the markup is always well formed.

Layout: the viewBox is 760 units wide and the page draws it about 1100 px wide, so the 9-unit font
renders near 13 px. Every label is kept inside the viewBox: the last date on an axis is anchored
at its end, forecast labels are clamped to the plot, and text widths are estimated as
0.6 × font size × characters (what the tests check too). Y axes use "nice" 1-2-5 steps.
"""

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pump_service.services.pumps.chart_series import PumpSeries, VolumeKind

__all__ = ["nice_ticks", "pump_chart_svg"]

_W = 760
_LEFT, _RIGHT = 64, 20
_FONT = 9  # viewBox units: ~13 px at the page's ~1100 px width
_CHAR_W = 0.6 * _FONT  # estimated width of one character
_TOP = (24, 206)  # top edge of the volume panel, of the flow panel (room for the x labels and a title between)
_PANEL_H = (130, 110)
_LEGEND_Y = _TOP[1] + _PANEL_H[1] + 44
_H = _LEGEND_Y + 12
_SVG_NS = "http://www.w3.org/2000/svg"
_TICKS = 6
_TARGET_INTERVALS = 4
_INK, _AXIS, _GRID = "#1f2933", "#5b6776", "#e3e8ee"
_FILLED, _MEASURED, _PLANNED = "#0b5cad", "#c2410c", "#5b6776"


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _text_width(text: str, size: float = _FONT) -> float:
    return 0.6 * size * len(text)


def nice_ticks(max_value: float) -> tuple[list[float], int]:
    """Ticks from 0 to a nice value at or above ``max_value`` in 1-2-5 steps, and the decimals to show them with."""
    if not max_value > 0 or not math.isfinite(max_value):
        max_value = 1.0
    raw = max_value / _TARGET_INTERVALS
    magnitude = 10 ** math.floor(math.log10(raw))
    fraction = raw / magnitude
    nice = 1 if fraction < 1.5 else 2 if fraction < 3 else 5 if fraction < 7 else 10
    step = nice * magnitude
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    count = math.ceil(max_value / step - 1e-9)
    return [round(step * i, decimals) for i in range(count + 1)], decimals


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


class _YAxis:
    def __init__(self, top: int, height: int, top_value: float) -> None:
        self.top, self.height, self.top_value = top, height, top_value if top_value > 0 else 1.0

    def y(self, value: float) -> float:
        return self.top + self.height - min(value, self.top_value) / self.top_value * self.height


def _panel_title(svg: ET.Element, index: int, label: str, unit: str) -> ET.Element:
    group = _sub(svg, "g", class_=f"axes panel-{index}")
    _sub(group, "text", f"{label} ({unit})", class_="y-label", x=str(_LEFT), y=str(_TOP[index] - 9),
         font_weight="600", fill=_INK)  # fmt: skip
    return group


def _panel(svg: ET.Element, index: int, axis: _TimeAxis, max_value: float, unit: str, label: str) -> _YAxis:
    top, height = _TOP[index], _PANEL_H[index]
    ticks, decimals = nice_ticks(max_value)
    y_axis = _YAxis(top, height, ticks[-1])
    group = _panel_title(svg, index, label, unit)
    for value in ticks:
        y = y_axis.y(value)
        _sub(group, "line", x1=str(_LEFT - 4), y1=_fmt(y), x2=str(_W - _RIGHT), y2=_fmt(y), stroke=_GRID)
        _sub(group, "text", f"{value:.{decimals}f}", class_="y-tick", x=str(_LEFT - 8), y=_fmt(y + 3),
             text_anchor="end", fill=_INK)  # fmt: skip
    _sub(group, "line", x1=str(_LEFT), y1=str(top), x2=str(_LEFT), y2=str(top + height), stroke=_AXIS)
    _sub(group, "line", x1=str(_LEFT), y1=str(top + height), x2=str(_W - _RIGHT), y2=str(top + height), stroke=_AXIS)
    ticks_at = axis.ticks()
    for i, tick in enumerate(ticks_at):
        x = axis.x(tick)
        anchor = "end" if i == len(ticks_at) - 1 else "middle"  # the last date ends at the plot's right edge
        _sub(group, "line", x1=_fmt(x), y1=str(top + height), x2=_fmt(x), y2=str(top + height + 4), stroke=_AXIS)
        _sub(group, "text", f"{tick.astimezone(axis.zone):%Y-%m-%d}", class_="x-tick", x=_fmt(x),
             y=str(top + height + 15), text_anchor=anchor, fill=_INK)  # fmt: skip
    return y_axis


def _forecast_labels(svg: ET.Element, labels: list[tuple[str, str, float, float]]) -> None:
    """Labels (name, text, x, y) centred over their points, clamped to the plot and not overlapping each other."""
    placed: list[tuple[float, float, float]] = []  # left, right, baseline
    for name, text, x, y in labels:
        width = _text_width(text)
        centre = min(max(x, _LEFT + width / 2 + 2), _W - _RIGHT - width / 2)
        left, right = centre - width / 2, centre + width / 2
        for other_left, other_right, other_y in placed:
            if left < other_right and other_left < right and abs(y - other_y) < _FONT + 2:
                y = other_y - _FONT - 3
        y = max(y, _TOP[0] + _FONT)  # not over the panel's title
        placed.append((left, right, y))  # drawn with a white halo so the dashed line does not cross the text
        _sub(svg, "text", text, class_=f"forecast-label {name}", x=_fmt(centre), y=_fmt(y), text_anchor="middle",
             fill=_INK, stroke="#ffffff", stroke_width="3", paint_order="stroke")  # fmt: skip


def _legend(svg: ET.Element) -> None:
    legend = _sub(svg, "g", class_="legend")
    x, y = float(_LEFT), float(_LEGEND_Y)
    for text, kind in (("filled", "filled"), ("measured", "measured"), ("planned flow", "planned"),
                       ("forecast", "forecast")):  # fmt: skip
        item = _sub(legend, "g", class_=f"legend-item {kind}")
        marker_y = y - _FONT / 3
        if kind in ("filled", "measured"):
            colour = _FILLED if kind == "filled" else _MEASURED
            _sub(item, "circle", cx=_fmt(x + 6), cy=_fmt(marker_y), r="4", fill=colour)
        elif kind == "planned":
            _sub(item, "rect", x=_fmt(x + 2), y=_fmt(marker_y - 4), width="8", height="8", fill="none",
                 stroke=_PLANNED)  # fmt: skip
        else:
            _sub(item, "line", x1=_fmt(x), y1=_fmt(marker_y), x2=_fmt(x + 16), y2=_fmt(marker_y), stroke=_AXIS,
                 stroke_dasharray="6 4")  # fmt: skip
        _sub(item, "text", text, x=_fmt(x + 20), y=_fmt(y), fill=_INK)
        x += 20 + _text_width(text) + 24


def pump_chart_svg(series: PumpSeries, *, zone: ZoneInfo, title: str) -> str:
    """The chart of ``series`` as an ``<svg>`` element (dates in ``zone``, volumes in mL, flows in mL/d)."""
    svg = ET.Element(
        "svg",
        {"xmlns": _SVG_NS, "viewBox": f"0 0 {_W} {_H}", "role": "img", "class": "pump-chart",
         "font-family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "font-size": str(_FONT)},
    )  # fmt: skip
    _sub(svg, "title", title)
    forecast = series.forecast
    times = [p.at for p in series.volumes] + [f.at for f in series.flows]
    if forecast is not None:
        times += [forecast.from_at, *(t for t in (forecast.alarm_at, forecast.empty_at) if t is not None)]
    if not times:
        _sub(svg, "text", "No refills recorded yet: nothing to chart.", class_="empty", x=str(_W // 2),
             y=str(_H // 2), text_anchor="middle", fill=_INK)  # fmt: skip
        return ET.tostring(svg, encoding="unicode")
    axis = _TimeAxis(times, zone)
    volume = _panel(svg, 0, axis, series.capacity_ml, "mL", "Reservoir volume")
    if forecast is not None:
        line = [(forecast.from_at, forecast.from_ml)]
        if forecast.alarm_at is not None:
            line.append((forecast.alarm_at, forecast.alarm_ml))
        if forecast.empty_at is not None:
            line.append((forecast.empty_at, 0.0))
        coords = " ".join(f"{_fmt(axis.x(at))},{_fmt(volume.y(ml))}" for at, ml in line)
        _sub(svg, "polyline", class_="forecast", points=coords, fill="none", stroke=_AXIS, stroke_dasharray="6 4")
        labels = []
        for name, at in (("empty", forecast.empty_at), ("alarm", forecast.alarm_at)):
            if at is not None:
                ml = forecast.alarm_ml if name == "alarm" else 0.0
                labels.append((name, f"{name} {at.astimezone(zone):%Y-%m-%d}", axis.x(at), volume.y(ml) - 8))
                _sub(svg, "circle", class_=f"forecast-mark {name}", cx=_fmt(axis.x(at)), cy=_fmt(volume.y(ml)), r="2.5",
                     fill="#ffffff", stroke=_AXIS)  # fmt: skip
        _forecast_labels(svg, labels)
    points = _sub(svg, "g", class_="volumes")
    for point in series.volumes:
        colour = _FILLED if point.kind is VolumeKind.FILLED else _MEASURED
        circle = _sub(points, "circle", class_=f"point {point.kind.value}", cx=_fmt(axis.x(point.at)),
                      cy=_fmt(volume.y(point.volume_ml)), r="4", fill=colour)  # fmt: skip
        _sub(circle, "title", f"{point.kind.value} {point.volume_ml:g} mL, {point.at.astimezone(zone):%Y-%m-%d}")
    flows = [f for f in series.flows if f.measured_ml_per_day is not None or f.planned_ml_per_day is not None]
    if not flows:  # a pump with only its first fill: nothing measured yet, so no empty grid
        group = _panel_title(svg, 1, "Flow: measured vs planned", "mL/d")
        top, height = _TOP[1], _PANEL_H[1]
        _sub(group, "rect", class_="no-flow-frame", x=str(_LEFT), y=str(top), width=str(_W - _LEFT - _RIGHT),
             height=str(height), fill="#f6f8fa", stroke=_GRID)  # fmt: skip
        _sub(group, "text", "no flow measured yet", class_="no-flow", x=_fmt((_LEFT + _W - _RIGHT) / 2),
             y=_fmt(top + height / 2 + _FONT / 3), text_anchor="middle", fill=_AXIS)  # fmt: skip
    else:
        top_flow = max(v for f in flows for v in (f.measured_ml_per_day, f.planned_ml_per_day) if v is not None)
        flow = _panel(svg, 1, axis, top_flow * 1.1, "mL/d", "Flow: measured vs planned")  # headroom over the top
        group = _sub(svg, "g", class_="flows")
        for reading in flows:
            x = axis.x(reading.at)
            if reading.planned_ml_per_day is not None:
                y = flow.y(reading.planned_ml_per_day)
                _sub(group, "rect", class_="point planned", x=_fmt(x - 4), y=_fmt(y - 4), width="8", height="8",
                     fill="none", stroke=_PLANNED)  # fmt: skip
            if reading.measured_ml_per_day is not None:
                y = flow.y(reading.measured_ml_per_day)
                _sub(group, "circle", class_="point flow-measured", cx=_fmt(x), cy=_fmt(y), r="4", fill=_MEASURED)
    _legend(svg)
    return ET.tostring(svg, encoding="unicode")
