"""Self-contained HTML report; every piece of text is escaped (no raw user HTML gets through).

Charts are the plotly figures of ``capplan.views.plan_charts`` with plotly.js inlined once in the page, so
the file opens offline and fetches nothing (no external script, font or style URL).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import plotly.io as pio
from plotly.offline import get_plotlyjs

from capplan.reports.sections import Section, fmt
from capplan.views.plan_charts import PlanChart

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:1400px}"
    "table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.85rem}"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}"
    "figure.chart{margin:0 0 1.5rem;break-inside:avoid}figure.chart figcaption{font-size:0.85rem;color:#444}"
    "@page{size:A4;margin:1cm}@media print{body{margin:0;max-width:none}.modebar{display:none!important}}"
)
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}  # no logo: it links to plotly's site


def _chart(chart: PlanChart) -> str:
    parts = [f'<figure class="chart" data-chart="{escape(chart.key)}"><h3>{escape(chart.title)}</h3>']
    if chart.figure is not None:
        parts.append(
            pio.to_html(chart.figure, full_html=False, include_plotlyjs=False, include_mathjax=False,
                        config=_PLOTLY_CONFIG, div_id=f"chart-{chart.key}")
        )
    parts.append(f"<figcaption>{escape(chart.caption)}</figcaption></figure>")
    return "".join(parts)


def _section(s: Section) -> list[str]:
    parts = [f"<h2>{escape(s.title)}</h2>"]
    parts += [f"<p>{escape(p)}</p>" for p in s.paragraphs]
    if s.columns:
        if not s.rows:
            return [*parts, "<p>(none)</p>"]
        parts.append(
            "<table><thead><tr>"
            + "".join(f"<th>{escape(c)}</th>" for c in s.columns)
            + "</tr></thead><tbody>"
        )
        parts += ["<tr>" + "".join(f"<td>{escape(fmt(v))}</td>" for v in row) + "</tr>" for row in s.rows]
        parts.append("</tbody></table>")
    return parts


def render_html(title: str, sections: list[Section], charts: Sequence[PlanChart] = ()) -> str:
    """The report as one HTML page: the first section (summary), the charts, then the other sections."""
    drawn = any(c.figure is not None for c in charts)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Capacity plan: {escape(title)}</title><style>{_STYLE}</style>",
    ]
    if drawn:  # plotly.js once, inline: the page needs no network
        parts.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
    parts += ["</head><body>", f"<h1>Capacity plan: {escape(title)}</h1>"]
    for i, s in enumerate(sections):
        parts += _section(s)
        if i == 0 and charts:
            parts += ['<section id="charts"><h2>Charts</h2>', *(_chart(c) for c in charts), "</section>"]
    parts.append("</body></html>")
    return "\n".join(parts)
