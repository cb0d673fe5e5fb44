"""The clinic report's figures as inline SVG: reservoir trajectories, the safe-interval histogram, capacity per day.

Pure functions from the score's parts to one ``<svg>`` element each, built with ``xml.etree`` (as
``pump_service/web/charts.py`` does) so every text is escaped and the markup is well formed. Each
figure carries a ``<title>`` and a ``<desc>``: the text alternative a screen reader reads, which
states the figure's facts in words. Marks carry classes the tests count: ``path.volume`` per pump,
``rect.bin`` per histogram bin, ``rect.day`` per clinic day (``violation`` when over capacity).
Y axes use the service's "nice" 1-2-5 ticks.
"""

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from pump_service.web.charts import nice_ticks
from testbench.report_headline import format_day
from testbench.score import DayLoad, PumpTrace

__all__ = ["HISTOGRAM_BINS", "capacity_svg", "interval_histogram_svg", "trajectory_svg"]

_SVG_NS = "http://www.w3.org/2000/svg"
_FONT = 11
_CHAR_W = 0.6 * _FONT  # estimated width of one character, as in pump_service/web/charts.py
_INK, _AXIS, _GRID, _MUTED = "#1f2933", "#5b6776", "#e3e8ee", "#9aa5b1"
_VOLUME, _ALARM, _BOOKING, _REFILL = "#0b5cad", "#c2410c", "#5b6776", "#15803d"
_BAR, _OVER = "#0b5cad", "#b91c1c"
# The fraction of the safe interval used, in tenths up to the whole interval, then one bin for
# refills that came after the pump could safely go: the bin that matters most is never folded in.
HISTOGRAM_BINS: tuple[tuple[float, float | None], ...] = (
    *((i / 10, (i + 1) / 10) for i in range(10)),
    (1.0, None),
)
_PAST_GAP = 0.4  # bin widths between the whole interval and the bin past it, so the two never read as one
_MAX_LISTED = 12  # days named in a text alternative before "and N more"


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


@dataclass(frozen=True, slots=True)
class _Frame:
    """A plot area inside a viewBox, mapping data to viewBox units (y grows upward in the data)."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_min: float
    x_max: float
    y_max: float

    def x(self, value: float) -> float:
        span = self.x_max - self.x_min if self.x_max > self.x_min else 1.0
        return self.left + (value - self.x_min) / span * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        top = self.y_max if self.y_max > 0 else 1.0
        plot = self.height - self.top - self.bottom
        return self.top + plot - max(0.0, min(value, top)) / top * plot

    @property
    def base(self) -> float:
        return float(self.height - self.bottom)


def _svg(kind: str, width: int, height: int, ident: str, title: str, desc: str) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": _SVG_NS,
            "viewBox": f"0 0 {width} {height}",
            "role": "img",
            "class": f"chart {kind}",
            "aria-labelledby": f"{ident}-title {ident}-desc",
            "font-family": "system-ui, sans-serif",
            "font-size": str(_FONT),
        },
    )
    _sub(svg, "title", title, id=f"{ident}-title")
    _sub(svg, "desc", desc, id=f"{ident}-desc")
    fits = int((width - 8) / (_CHAR_W * 1.1))  # bold glyphs are ~10 % wider
    shown = title if len(title) <= fits else title[: fits - 1] + "…"  # the whole title is in <title>
    _sub(svg, "text", shown, class_="chart-title", x="4", y=str(_FONT + 3), font_weight="600", fill=_INK)
    return svg


def _y_axis(svg: ET.Element, frame: _Frame, ticks: Sequence[float], decimals: int, label: str) -> None:
    group = _sub(svg, "g", class_="y-axis")
    for value in ticks:
        y = _fmt(frame.y(value))
        _sub(group, "line", x1=str(frame.left), y1=y, x2=str(frame.width - frame.right), y2=y, stroke=_GRID)
        _sub(
            group,
            "text",
            f"{value:.{decimals}f}",
            class_="y-tick",
            x=str(frame.left - 4),
            y=_fmt(frame.y(value) + 4),
            text_anchor="end",
            fill=_INK,
        )
    _sub(group, "line", x1=str(frame.left), y1=str(frame.top), x2=str(frame.left), y2=_fmt(frame.base), stroke=_AXIS)
    middle = _fmt((frame.top + frame.base) / 2)
    _sub(
        group,
        "text",
        label,
        class_="axis-label y-label",
        x=str(_FONT + 2),
        y=middle,
        text_anchor="middle",
        transform=f"rotate(-90 {_FONT + 2} {middle})",
        fill=_INK,
    )


def _x_axis(svg: ET.Element, frame: _Frame, ticks: Sequence[tuple[float, str]], label: str) -> None:
    group = _sub(svg, "g", class_="x-axis")
    _sub(
        group,
        "line",
        x1=str(frame.left),
        y1=_fmt(frame.base),
        x2=str(frame.width - frame.right),
        y2=_fmt(frame.base),
        stroke=_AXIS,
    )
    for value, text in ticks:
        x = frame.x(value)
        anchor = "end" if x > frame.width - frame.right - _FONT else "middle"  # a label at the right edge stays inside
        _sub(group, "line", x1=_fmt(x), y1=_fmt(frame.base), x2=_fmt(x), y2=_fmt(frame.base + 4), stroke=_AXIS)
        _sub(
            group,
            "text",
            text,
            class_="x-tick",
            x=_fmt(x),
            y=_fmt(frame.base + 4 + _FONT),
            text_anchor=anchor,
            fill=_INK,
        )
    _sub(
        group,
        "text",
        label,
        class_="axis-label x-label",
        x=_fmt((frame.left + frame.width - frame.right) / 2),
        y=str(frame.height - 5),  # room for the descenders
        text_anchor="middle",
        fill=_INK,
    )


def _day_ticks(first: float, last: float) -> list[tuple[float, str]]:
    ticks, decimals = nice_ticks(last - first)
    return [(first + t, f"{first + t:.{decimals}f}") for t in ticks if first + t <= last + 1e-9]


def _listed(days: Sequence[float]) -> str:
    shown = ", ".join(format_day(day) for day in days[:_MAX_LISTED])
    more = len(days) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _alarm_name(trace: PumpTrace) -> str:
    """What the line at ``alarm_ml`` is: a programmable pump's alarm, or a constant-flow pump's residual floor."""
    return "floor" if trace.family == "constant_flow" else "alarm"


def _trajectory_desc(trace: PumpTrace) -> str:
    name = _alarm_name(trace)
    family = trace.family.replace("_", "-")
    parts = [f"{family} pump {trace.serial}, reservoir {trace.capacity_ml:g} mL, {name} at {trace.alarm_ml:g} mL."]
    if trace.volume_ml:
        low = min(range(len(trace.volume_ml)), key=trace.volume_ml.__getitem__)
        below = sum(1 for v in trace.volume_ml if v <= trace.alarm_ml)
        parts.append(
            f"Lowest {trace.volume_ml[low]:.2f} mL on day {format_day(trace.times_days[low])}; "
            f"{below} of {len(trace.volume_ml)} samples at or below the {name}."
        )
    else:
        parts.append("No volume samples.")
    parts.append(f"Bookings on days {_listed(trace.bookings_days)}." if trace.bookings_days else "No bookings.")
    parts.append(f"Refills on days {_listed(trace.refills_days)}." if trace.refills_days else "No refills.")
    return " ".join(parts)


def trajectory_svg(trace: PumpTrace, *, days: float, ident: str) -> str:
    """One small multiple: the pump's true volume over days 0..``days``, its alarm line, bookings and refills.

    Pass every small multiple the same ``days`` (the page does) so their time axes line up; a
    booking or sample past it stretches this pump's axis rather than fall off the chart.
    ``ident`` makes the element ids unique on the page (the serial is not used: it may hold anything).
    """
    last = max([days, *trace.times_days, *trace.bookings_days, *trace.refills_days])
    ticks, decimals = nice_ticks(max(trace.capacity_ml, *trace.volume_ml, 0.0))
    frame = _Frame(360, 200, 46, 12, 28, 40, 0.0, last, ticks[-1])
    svg = _svg(
        "trajectory",
        frame.width,
        frame.height,
        ident,
        f"{trace.serial}: reservoir (mL) by virtual day",
        _trajectory_desc(trace),
    )
    _y_axis(svg, frame, ticks, decimals, "volume (mL)")
    _x_axis(svg, frame, _day_ticks(0.0, last), "virtual day (d)")
    bookings = _sub(svg, "g", class_="bookings")
    for day in trace.bookings_days:
        x = _fmt(frame.x(day))
        _sub(
            bookings,
            "line",
            class_="booking",
            x1=x,
            y1=str(frame.top),
            x2=x,
            y2=_fmt(frame.base),
            stroke=_BOOKING,
            stroke_dasharray="2 3",
        )
    alarm_y = _fmt(frame.y(trace.alarm_ml))
    _sub(
        svg,
        "line",
        class_="alarm",
        x1=str(frame.left),
        y1=alarm_y,
        x2=str(frame.width - frame.right),
        y2=alarm_y,
        stroke=_ALARM,
        stroke_dasharray="6 3",
    )
    label = f"{_alarm_name(trace)} {trace.alarm_ml:g} mL"  # white halo: readable over the line and the curve
    _sub(svg, "text", label, class_="alarm-label", x=str(frame.width - frame.right - 2),
         y=_fmt(frame.y(trace.alarm_ml) - 3), text_anchor="end", fill=_ALARM, stroke="#ffffff", stroke_width="3",
         paint_order="stroke")  # fmt: skip
    if trace.times_days:
        points = " L ".join(
            f"{_fmt(frame.x(t))},{_fmt(frame.y(v))}" for t, v in zip(trace.times_days, trace.volume_ml, strict=False)
        )
        _sub(svg, "path", class_="volume", d=f"M {points}", fill="none", stroke=_VOLUME, stroke_width="1.5")
    refills = _sub(svg, "g", class_="refills")
    for day in trace.refills_days:
        _sub(refills, "path", class_="refill", d=f"M {_fmt(frame.x(day))},{frame.top} l -4,-7 h 8 z", fill=_REFILL)
    return ET.tostring(svg, encoding="unicode")


def _bin_of(fraction: float) -> int:
    if fraction > 1.0:
        return len(HISTOGRAM_BINS) - 1
    return min(max(int(fraction * 10), 0), len(HISTOGRAM_BINS) - 2)  # exactly 1.0 is a whole interval, not past it


def interval_histogram_svg(fractions: Sequence[float], *, ident: str) -> str:
    """Refills counted by the fraction of the pump's safe interval they used; the last bin is past it."""
    counts = [0] * len(HISTOGRAM_BINS)
    for fraction in fractions:
        counts[_bin_of(fraction)] += 1
    over = counts[-1]
    desc = (
        f"{len(fractions)} refills. "
        + "; ".join(
            f"{low:.1f}–{high:.1f}: {count}" if high is not None else f"over {low:.1f}: {count}"
            for (low, high), count in zip(HISTOGRAM_BINS, counts, strict=True)
        )
        + (f". {over} refills came after the safe interval had run out." if over else ".")
    )
    ticks, _ = nice_ticks(max(counts))
    frame = _Frame(680, 240, 46, 12, 28, 40, 0.0, len(HISTOGRAM_BINS) + _PAST_GAP, ticks[-1])
    svg = _svg("histogram", frame.width, frame.height, ident, "Fraction of the safe interval used per refill", desc)
    _y_axis(svg, frame, ticks, 0, "refills (count)")
    edges = [(float(i), f"{low:.1f}") for i, (low, _) in enumerate(HISTOGRAM_BINS) if i % 2 == 0]
    past = (len(HISTOGRAM_BINS) - 0.5 + _PAST_GAP, f"over {HISTOGRAM_BINS[-1][0]:.0f}")  # under the last bin
    _x_axis(svg, frame, [*edges, past], "fraction of the safe interval used (days used ÷ safe days)")
    bars = _sub(svg, "g", class_="bins")
    for i, ((low, high), count) in enumerate(zip(HISTOGRAM_BINS, counts, strict=True)):
        shift = _PAST_GAP if high is None else 0.0
        left, right = frame.x(i + shift) + 1, frame.x(i + 1 + shift) - 1
        top = frame.y(count)
        bar = _sub(
            bars,
            "rect",
            class_="bin" if high is not None else "bin over",
            x=_fmt(left),
            y=_fmt(top),
            width=_fmt(right - left),
            height=_fmt(frame.base - top),
            fill=_BAR if high is not None else _OVER,
        )
        label = f"{low:.1f}–{high:.1f}" if high is not None else f"over {low:.1f}"
        _sub(bar, "title", f"{label}: {count} refills")
    return ET.tostring(svg, encoding="unicode")


def _capacity_desc(days: Sequence[DayLoad]) -> str:
    if not days:
        return "No clinic days."
    violations = [float(d.day) for d in days if d.booked > d.capacity]
    text = (
        f"{len(days)} clinic days from day {days[0].day} to day {days[-1].day}; capacity "
        f"{min(d.capacity for d in days)} to {max(d.capacity for d in days)} visits a day; "
        f"at most {max(d.booked for d in days)} booked."
    )
    if violations:
        shown = ", ".join(f"{day:.0f}" for day in violations[:_MAX_LISTED])
        more = len(violations) - _MAX_LISTED
        return f"{text} {len(violations)} days over capacity: {shown}" + (f" and {more} more." if more > 0 else ".")
    return f"{text} No day over capacity."


def capacity_svg(days: Sequence[DayLoad], *, ident: str) -> str:
    """Visits booked per clinic day as bars against the day's capacity (a step line); days over it in red."""
    ordered = sorted(days, key=lambda load: load.day)
    first = (
        min(0, ordered[0].day) if ordered else 0
    )  # run days count from 0: ticks at round days, not the first clinic day
    last = ordered[-1].day + 1 if ordered else 1
    ticks, _ = nice_ticks(max([1, *(d.booked for d in ordered), *(d.capacity for d in ordered)]))
    frame = _Frame(760, 240, 46, 12, 28, 40, float(first), float(last), ticks[-1])
    svg = _svg(
        "capacity",
        frame.width,
        frame.height,
        ident,
        "Visits booked per clinic day against capacity",
        _capacity_desc(ordered),
    )
    _y_axis(svg, frame, ticks, 0, "visits (count)")
    _x_axis(svg, frame, _day_ticks(float(first), float(last)), "virtual day (d)")
    step = frame.x(first + 1) - frame.x(first)
    width = max(step * 0.8, 0.5)
    bars = _sub(svg, "g", class_="days")
    marks = _sub(svg, "g", class_="violations")
    line: list[str] = []
    for load in ordered:
        x = frame.x(load.day)
        top = frame.y(load.booked)
        over = load.booked > load.capacity
        bar = _sub(
            bars,
            "rect",
            class_="day violation" if over else "day",
            x=_fmt(x + (step - width) / 2),
            y=_fmt(top),
            width=_fmt(width),
            height=_fmt(frame.base - top),
            fill=_OVER if over else _BAR,
        )
        _sub(bar, "title", f"day {load.day}: {load.booked} booked, capacity {load.capacity}")
        if over:
            centre = x + step / 2
            _sub(
                marks, "path", class_="violation-mark", d=f"M {_fmt(centre)},{_fmt(top - 2)} l -4,-7 h 8 z", fill=_OVER
            )
        capacity_y = _fmt(frame.y(load.capacity))
        line.append(f"M {_fmt(x)},{capacity_y} H {_fmt(x + step)}")
    if line:
        _sub(svg, "path", class_="capacity", d=" ".join(line), fill="none", stroke=_INK, stroke_width="1.5")
    return ET.tostring(svg, encoding="unicode")
