"""The clinic score as one self-contained HTML page: headline, incidents, faults and the figures.

Nothing is fetched: the CSS is inline and the figures are inline SVG (``report_charts``), so the
file can be mailed or archived and opened offline. The page is a jinja2 template with autoescape
on: every serial, detail and finding code is escaped; only the SVG, which ``xml.etree`` built and
escaped itself, is marked safe. The layout is one column that reflows: tables scroll sideways
in their own box and the small multiples wrap, so the page reads in a narrow window.
"""

from collections.abc import Iterator

import jinja2
from markupsafe import Markup

from testbench.report_charts import capacity_svg, interval_histogram_svg, trajectory_svg
from testbench.report_headline import Verdict, format_day, headline_rows, run_summary
from testbench.score import ClinicScore, PumpTrace

__all__ = ["score_html"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Clinic score: {{ summary }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933; margin: 0 auto;
       padding: 1rem; max-width: 72rem; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; min-width: 100%; }
th, td { text-align: left; padding: 0.25rem 0.6rem; border-bottom: 1px solid #e3e8ee; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.met { color: #15803d; font-weight: 600; } .missed { color: #b91c1c; font-weight: 600; }
.never { color: #b91c1c; font-weight: 600; }
figure { margin: 1rem 0; } figcaption { color: #5b6776; margin-top: 0.3rem; }
svg.chart { width: 100%; height: auto; display: block; }
/* wide figures keep their text between ~9 and ~14 px: capped in a wide window, scrolled in a narrow one */
svg.histogram { max-width: 45rem; min-width: 36rem; } svg.capacity { max-width: 60rem; min-width: 42rem; }
.multiples { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(22rem, 100%), 1fr)); gap: 0.75rem; }
.legend span { display: inline-block; margin-right: 1rem; }
.empty { color: #5b6776; }
</style>
</head>
<body>
<h1>Clinic score</h1>
<p class="facts">{{ summary }}</p>

<h2 id="headline">Headline</h2>
<div class="scroll"><table class="headline">
<thead><tr><th scope="col">figure</th><th scope="col">value</th><th scope="col">target</th>
<th scope="col">verdict</th></tr></thead>
<tbody>
{% for row in rows %}<tr><td>{{ row.label }}</td><td>{{ row.value }}</td><td>{{ row.target }}</td>
<td class="{{ row.verdict.name | lower }}">{{ "" if row.verdict is not_judged else row.verdict.value }}</td></tr>
{% endfor %}</tbody>
</table></div>

<h2 id="incidents">Incidents ({{ incidents | length }}): every alarm and dry pump explained</h2>
{% if incidents %}<div class="scroll"><table class="incidents">
<thead><tr><th scope="col">serial</th><th scope="col">kind</th><th scope="col" class="number">day</th>
<th scope="col">cause</th><th scope="col">detail</th></tr></thead>
<tbody>
{% for incident in incidents %}<tr><td>{{ incident.serial }}</td><td>{{ incident.kind.value }}</td>
<td class="number">{{ day(incident.at_day) }}</td><td>{{ incident.cause.value }}</td><td>{{ incident.detail }}</td></tr>
{% endfor %}</tbody>
</table></div>{% else %}<p class="empty">No pump reached its alarm or ran dry.</p>{% endif %}

<h2 id="faults">Injected faults ({{ faults | length }})</h2>
{% if faults %}<div class="scroll"><table class="faults">
<thead><tr><th scope="col">serial</th><th scope="col">fault</th><th scope="col" class="number">injected day</th>
<th scope="col" class="number">detected day</th><th scope="col" class="number">days to detect</th>
<th scope="col">findings (or why none)</th></tr></thead>
<tbody>
{% for fault in faults %}<tr><td>{{ fault.serial }}</td><td>{{ fault.kind }}</td>
<td class="number">{{ day(fault.injected_day) }}</td>
{% if fault.detected_day is none %}<td class="number never">never</td><td class="number">—</td>
{% else %}<td class="number">{{ day(fault.detected_day) }}</td>
<td class="number">{{ day(fault.detected_day - fault.injected_day) }}</td>{% endif %}
<td>{{ fault.finding_codes | join(", ") if fault.detected_day is not none else fault.explanation }}</td></tr>
{% endfor %}</tbody>
</table></div>{% else %}<p class="empty">No fault was injected.</p>{% endif %}

<h2 id="trajectories">Reservoir trajectories of the sampled pumps ({{ trajectories | length }})</h2>
{% if trajectories %}<figure class="trajectories">
<p class="legend"><span>solid blue line: true volume (mL)</span><span>dashed orange line: low-reservoir alarm
or residual floor</span><span>dotted grey lines: bookings</span><span>green triangles: refills</span></p>
<div class="multiples">{% for svg in trajectories %}{{ svg }}{% endfor %}</div>
<figcaption>True reservoir volume of each sampled pump over the run, with its bookings and refills.</figcaption>
</figure>{% else %}<p class="empty">No pump was sampled.</p>{% endif %}

<h2 id="safe-interval">Fraction of the safe interval used</h2>
<figure class="safe-interval"><div class="scroll">{{ histogram }}</div>
<figcaption>Each refill counted by the share of its pump's safe interval it used; the red bin came too late.
</figcaption></figure>

<h2 id="capacity">Capacity per day</h2>
<figure class="capacity"><div class="scroll">{{ capacity }}</div>
<figcaption>Visits booked per clinic day (bars) against the day's capacity (black line); red bars and marks are
days over capacity.</figcaption></figure>
</body>
</html>
"""

_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENVIRONMENT.tests["not_judged"] = lambda verdict: verdict is Verdict.NOT_JUDGED
_TEMPLATE = _ENVIRONMENT.from_string(_PAGE)


def _trace_days(trace: PumpTrace) -> Iterator[float]:
    yield from trace.times_days
    yield from trace.bookings_days
    yield from trace.refills_days


def score_html(score: ClinicScore) -> str:
    """The report page for ``score``: a complete HTML document in one string."""
    # One time axis for all the small multiples, so pumps compare at a glance (bookings may lie past the run).
    days = max([float(score.facts.days), *(day for trace in score.samples for day in _trace_days(trace))])
    trajectories = [
        Markup(trajectory_svg(trace, days=days, ident=f"trajectory-{i}"))  # noqa: S704  # built and escaped by ElementTree
        for i, trace in enumerate(score.samples)
    ]
    return _TEMPLATE.render(
        summary=run_summary(score),
        rows=headline_rows(score),
        incidents=sorted(score.incidents, key=lambda item: (item.at_day, item.serial)),
        faults=sorted(score.faults, key=lambda item: (item.injected_day, item.serial)),
        day=format_day,
        trajectories=trajectories,
        histogram=Markup(interval_histogram_svg(score.safe_interval_fractions, ident="safe-interval-chart")),  # noqa: S704
        capacity=Markup(capacity_svg(score.capacity_per_day, ident="capacity-chart")),  # noqa: S704
    )
