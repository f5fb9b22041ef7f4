"""The LLM-serving view and dashboard page over real imported result files (tests/data/serving)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from capplan.results.io import read_import_file
from capplan.results.store import Store
from capplan.views.serving import ServeSLO, goodput_figure, knees, percentile_figure, serving_frame

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "serving"
APP = str(ROOT / "dashboards" / "app.py")


def _records():  # type: ignore[no-untyped-def]
    return [r for f in sorted(DATA.glob("*.json")) for r in read_import_file(f)]


def test_frame_judges_each_point_and_finds_the_knee() -> None:
    """TTFT p99 <= 1000 ms, TPOT p99 <= 50 ms: every point passes; the knee is the highest goodput, AIPerf's
    concurrency-2 run at 25.50 requests/s. TTFT <= 35 ms: AIPerf (p99 66.9 ms) and guidellm's Poisson
    run (p99 38.7 ms) fail; guidellm's synchronous run (p99 32.86 ms, 12 / 0.854 s = 14.05 req/s) leads."""
    frame = serving_frame(_records(), ServeSLO(ttft_ms=1000, tpot_ms=50))
    assert len(frame) == 5 and frame["meets_slo"].all()
    assert knees(frame)["goodput_rps"].max() == pytest.approx(25.5012, abs=1e-4)
    strict = serving_frame(_records(), ServeSLO(ttft_ms=35, tpot_ms=50))
    failed = set(strict.loc[strict["meets_slo"] == False, "load"])  # noqa: E712
    assert {"c2", "r10"} <= failed
    assert knees(strict)["goodput_rps"].max() == pytest.approx(12 / 0.8539929389953613)


def test_figures_carry_the_slo_line_and_the_knee() -> None:
    frame = serving_frame(_records(), ServeSLO(ttft_ms=1000, tpot_ms=50))
    ttft = percentile_figure(frame, "ttft", "rate", 1000.0)
    assert any(s.y0 == 1000.0 for s in ttft.layout.shapes)
    assert all(trace.name.split(" · ")[0] in ("p50", "p90", "p99") for trace in ttft.data)
    good = goodput_figure(frame, "concurrency")
    assert any(trace.name == "goodput knee" for trace in good.data)


def test_dashboard_serving_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    Store(url).add_many(_records())
    monkeypatch.setenv("CAPPLAN_STORE", url)
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("sections/serving.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "LLM serving"
    best = next(m for m in at.metric if m.label.startswith("Best goodput"))
    assert best.value == "25.5"
    at.number_input(key="serve_ttft").set_value(35.0).run()
    best = next(m for m in at.metric if m.label.startswith("Best goodput"))
    assert best.value == "14.05"
