"""Markdown report."""

from __future__ import annotations

from capplan.reports.sections import Section, fmt


def _cell(value: object) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# Capacity plan: {_cell(title)}", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for p in s.paragraphs:
            lines += [_cell(p), ""]
        if s.columns:
            if not s.rows:
                lines += ["(none)", ""]
                continue
            lines.append("| " + " | ".join(s.columns) + " |")
            lines.append("|" + "---|" * len(s.columns))
            lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in s.rows]
            lines.append("")
    return "\n".join(lines)
