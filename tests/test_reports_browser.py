"""The HTML report in real Chromium (Debian's, driven by Playwright): its three charts draw from the
inlined plotly.js with no network request; report.pdf is printed by headless Chromium, or skipped with a
message when there is none. Skipped without Chromium, failed under CI=true (conftest's ``chromium``)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dashboards"))
import screenshots  # noqa: E402  (the browser driver lives next to the app)
from harness_cli_helper import cli  # noqa: E402

from capplan.views.plan_charts import MAX_CLASSES  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts" / "report"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return cli(capsys, *argv)


def test_html_report_draws_three_charts_offline(mixed_enterprise_reports: Path, chromium: str) -> None:
    html = mixed_enterprise_reports / "report.html"
    text = html.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", text)  # nothing to fetch
    assert text.count("Plotly.newPlot(") == 3
    assert len(re.findall(r"plotly\.js v\d", text)) == 1  # the library inlined once
    view = screenshots.capture_report(html, ARTIFACTS / "report-charts.png")
    assert view.requests == [html.resolve().as_uri()]  # the file itself, and no other request
    assert not view.page_errors
    result = json.loads((mixed_enterprise_reports / "result.json").read_text())
    classes = len({r["resource_class"] for r in result["timeline"]})
    # traces: one line per alternative; have + planned bars and a need line per resource class (at most
    # MAX_CLASSES drawn); low-end and high-end bars of the tornado
    expected = {"chart-cumulative": len(result["alternatives"]),
                "chart-capacity_gap": 3 * min(classes, MAX_CLASSES),
                "chart-tornado": 2}
    assert {c["id"]: c["traces"] for c in view.charts} == expected
    assert all(c["width"] > 300 and c["height"] > 200 for c in view.charts)
    assert view.screenshot.stat().st_size > 20_000  # drawn charts, not an empty box


def test_pdf_is_printed_from_the_html_by_chromium(tmp_path: Path, chromium: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "examples" / "research-training.yaml"
    code, out, err = _run(["plan", str(example), "--out", str(tmp_path), "--format", "pdf"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]  # only what was asked for
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 3  # summary, charts and tables over several pages


def test_pdf_is_skipped_with_a_message_without_a_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CAPPLAN_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no chromium on PATH
    example = ROOT / "examples" / "research-training.yaml"
    argv = ["plan", str(example), "--no-sensitivity", "--out", str(tmp_path / "out"), "--format", "HTML, pdf"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert "report.pdf skipped: no Chromium found" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html"]


def test_a_wrong_browser_path_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CAPPLAN_CHROMIUM", str(tmp_path / "no-such-chromium"))
    example = ROOT / "examples" / "research-training.yaml"
    code, _, err = _run(["plan", str(example), "--no-sensitivity", "--out", str(tmp_path / "out"),
                         "--format", "pdf"], capsys)
    assert code == 2 and "$CAPPLAN_CHROMIUM=" in err and len(err.strip().splitlines()) == 1
