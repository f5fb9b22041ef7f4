"""Report writers: Markdown, HTML with charts, an Excel workbook, one CSV per table, the whole result as
JSON, and a PDF printed from the HTML by headless Chromium."""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path

from capplan.errors import UserError
from capplan.planner.result import PlanResult, table_columns
from capplan.reports.html import render_html
from capplan.reports.markdown import render_markdown
from capplan.reports.pdf import find_chromium, print_pdf
from capplan.reports.sections import build_sections
from capplan.reports.workbook import write_workbook
from capplan.views.plan_charts import plan_charts

FORMATS = ("md", "html", "xlsx", "csv", "json", "pdf")
DEFAULT_FORMATS = ("md", "html", "xlsx", "csv", "json")  # pdf needs a browser: only on request
MIME_TYPES = {
    ".md": "text/markdown",
    ".html": "text/html",
    ".json": "application/json",
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
}


def mime_type(file_name: str) -> str:
    """Content type of a report file, by its suffix."""
    return MIME_TYPES.get(Path(file_name).suffix, "application/octet-stream")


def report_formats(names: Collection[str]) -> list[str]:
    """The report formats named (repeated or comma-separated; case and spaces ignored); UserError naming
    the first unknown one."""
    chosen = list(dict.fromkeys(part.strip().lower() for n in names for part in n.split(",")))
    bad = next((n for n in chosen if n not in FORMATS), None)
    if bad is not None:
        raise UserError(f"--format {bad}: unknown report format; allowed: {', '.join(FORMATS)}")
    return chosen


def write_reports(
    result: PlanResult,
    out_dir: Path,
    formats: Collection[str] = DEFAULT_FORMATS,
    notice: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the report files of ``formats`` (report.md, report.html, report.xlsx, <table>.csv, result.json,
    report.pdf) into ``out_dir``; return their paths. Without a browser the PDF is skipped and ``notice``
    is told why."""
    formats = report_formats(formats)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out_dir}: cannot create directory ({exc.strerror or exc})") from exc
    sections = build_sections(result)
    written: list[Path] = []

    def text_file(name: str, text: str) -> Path:
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
        return path

    if "md" in formats:
        text_file("report.md", render_markdown(result.plan_name, sections))
    needs_html = bool({"html", "pdf"} & set(formats))
    html = render_html(result.plan_name, sections, plan_charts(result)) if needs_html else ""
    if "html" in formats:
        text_file("report.html", html)
    if "xlsx" in formats:
        written.append(write_workbook(result, out_dir / "report.xlsx"))
    if "json" in formats:
        text_file("result.json", json.dumps(result.model_dump(mode="json"), indent=2))
    if "csv" in formats:
        for name, rows in result.tables().items():
            path = out_dir / f"{name}.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=table_columns(name))
                writer.writeheader()
                writer.writerows(rows)
            written.append(path)
    if "pdf" in formats:
        written += _pdf(html, out_dir, notice)
    return written


def _pdf(html: str, out_dir: Path, notice: Callable[[str], None] | None) -> list[Path]:
    chromium = find_chromium()
    if chromium is None:
        if notice is not None:
            notice("report.pdf skipped: no Chromium found (install the chromium package, e.g. with "
                   "scripts/sysdeps.sh, or set CAPPLAN_CHROMIUM to a Chromium executable)")
        return []
    with tempfile.TemporaryDirectory(prefix="capplan-report-") as tmp:
        source = Path(tmp) / "report.html"
        source.write_text(html, encoding="utf-8")
        return [print_pdf(source, out_dir / "report.pdf", chromium)]


def report_files(result: PlanResult) -> dict[str, bytes]:
    """The files ``capplan plan --out`` writes by default, by name, as bytes (for downloads)."""
    with tempfile.TemporaryDirectory() as tmp:
        return {p.name: p.read_bytes() for p in write_reports(result, Path(tmp))}
