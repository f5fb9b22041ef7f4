"""Self-contained HTML report; every piece of text is escaped (no raw user HTML gets through)."""

from __future__ import annotations

from html import escape

from capplan.reports.sections import Section, fmt

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:1400px}"
    "table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.85rem}"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}"
)


def render_html(title: str, sections: list[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Capacity plan: {escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Capacity plan: {escape(title)}</h1>",
    ]
    for s in sections:
        parts.append(f"<h2>{escape(s.title)}</h2>")
        parts += [f"<p>{escape(p)}</p>" for p in s.paragraphs]
        if s.columns:
            if not s.rows:
                parts.append("<p>(none)</p>")
                continue
            parts.append(
                "<table><thead><tr>"
                + "".join(f"<th>{escape(c)}</th>" for c in s.columns)
                + "</tr></thead><tbody>"
            )
            parts += ["<tr>" + "".join(f"<td>{escape(fmt(v))}</td>" for v in row) + "</tr>" for row in s.rows]
            parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)
