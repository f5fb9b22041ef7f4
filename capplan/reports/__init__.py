"""Report writers: Markdown, HTML, one CSV per table and the whole result as JSON."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from capplan.errors import UserError
from capplan.planner.result import PlanResult
from capplan.reports.html import render_html
from capplan.reports.markdown import render_markdown
from capplan.reports.sections import build_sections


def write_reports(result: PlanResult, out_dir: Path) -> list[Path]:
    """Write report.md, report.html, result.json and <table>.csv files into ``out_dir``; return their
    paths."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out_dir}: cannot create directory ({exc.strerror or exc})") from exc
    sections = build_sections(result)
    written = []
    for name, text in (
        ("report.md", render_markdown(result.plan_name, sections)),
        ("report.html", render_html(result.plan_name, sections)),
        ("result.json", json.dumps(result.model_dump(mode="json"), indent=2)),
    ):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for name, rows in result.tables().items():
        path = out_dir / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            row_model = PlanResult.model_fields[name].annotation.__args__[0]  # type: ignore[union-attr]
            fields = list(row_model.model_fields)
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        written.append(path)
    return written


def report_files(result: PlanResult) -> dict[str, bytes]:
    """The files ``capplan plan --out`` writes, by name, as bytes (for downloads)."""
    with tempfile.TemporaryDirectory() as tmp:
        return {p.name: p.read_bytes() for p in write_reports(result, Path(tmp))}
