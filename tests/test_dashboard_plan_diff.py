"""The Plan revisions page under Streamlit's AppTest: two uploaded result.json files compared, and a bad
upload shown as one line (the page imports only capplan.views and streamlit)."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest
from test_dashboard_pages import APP
from test_planner_support import make_plan, tiny_catalog

from capplan.planner import run_plan
from capplan.results.store import Store


def _result_json(**changes) -> bytes:
    result = run_plan(make_plan(**changes), tiny_catalog(), sensitivity=False)
    return json.dumps(result.model_dump(mode="json")).encode()


def _page(tmp_path, monkeypatch) -> AppTest:
    Store(str(tmp_path / "empty.db")).close()
    monkeypatch.setenv("CAPPLAN_STORE", f"sqlite:///{tmp_path / 'empty.db'}")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("sections/plan_diff.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_two_revisions_are_compared(tmp_path, monkeypatch):
    at = _page(tmp_path, monkeypatch)
    assert at.title[0].value == "Plan revisions" and "Upload both" in at.info[0].value
    old = _result_json()
    # demand now 300 -> 450 requests/s; everything else as before
    new = _result_json(workload={"demand": {"now": 450, "unit": "qps", "growth_pct_per_quarter": 10}})
    at.file_uploader(key="diff_old").set_value(("old.json", old, "application/json"))
    at.file_uploader(key="diff_new").set_value(("new.json", new, "application/json")).run()
    assert not at.exception, [e.message for e in at.exception]
    lines = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert any("demand of svc in 4 quarter\\(s\\) \\(\\+50\\.0 %\\)" in line for line in lines), lines
    assert [s.value for s in at.subheader][:3] == ["test plan", "Headline figures", "Demand changed"]
    demand = next(df.value for df in at.dataframe if "workload" in df.value.columns)
    assert demand["quarter"].tolist() == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert (demand["new"] / demand["old"]).round(9).tolist() == [1.5] * 4
    assert len(at.get("plotly_chart")) == 1  # cumulative cost, old vs new


def test_a_bad_upload_is_one_line(tmp_path, monkeypatch):
    at = _page(tmp_path, monkeypatch)
    at.file_uploader(key="diff_old").set_value(("notes.json", b'{"hello": "world"}', "application/json"))
    at.file_uploader(key="diff_new").set_value(("new.json", _result_json(), "application/json")).run()
    assert not at.exception
    assert at.error[0].value.startswith("notes\\.json\\: not a capplan plan result \\(no format field")
