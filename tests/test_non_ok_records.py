"""A record that is not ok is never a figure downstream: projection calibration, the planner and the
dashboard leave it out and say so. Each consumer gets an infeasible record that still carries a positive
headline (as a store written before the infeasible status existed could) next to an ok twin."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_planner_support import make_plan

from capplan.catalog import load_catalog
from capplan.perfmodel import project
from capplan.perfmodel.calibration import gather_points
from capplan.planner.sizing import size_plan
from capplan.results.schema import Metric, RunRecord, Status
from capplan.results.store import Store
from capplan.views.charts import sample_keys
from capplan.views.roofline import roofline_points
from capplan.views.runs import metrics_frame, not_measured_note
from capplan.views.sweeps import throughput_latency_points

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"model": "resnet", "size": "base", "dtype": "fp16", "device": "cuda:0", "flops_per_sample": 8.18e9,
          "param_count": 25_557_032, "activation_bytes_per_sample": 40e6, "best_batch": 64}


def _infer(status: Status, throughput: float, run_id: str) -> RunRecord:
    latency = [10.0 + 0.01 * i for i in range(120)]
    return RunRecord(
        run_id=run_id, benchmark="infer-resnet-base", kind="infer", config=CONFIG, status=status,
        error=None if status is Status.ok else "no batch meets the p99 SLO of 1 ms: batch 64: median 10 ms",
        inventory={"gpus": [{"name": "NVIDIA L4"}]},
        metrics=[Metric(name="throughput_samples_per_s", value=throughput, unit="samples/s"),
                 Metric(name="latency_p99_ms", value=11.0, unit="ms", higher_is_better=False),
                 Metric(name="throughput_samples_per_s_b64", value=throughput, unit="samples/s"),
                 Metric(name="latency_ms_b64", value=10.0, unit="ms", stats={"p99": 11.0, "n": 120.0})],
        samples={"latency_ms_b64": latency},
    )


@pytest.fixture
def records() -> tuple[RunRecord, RunRecord]:
    return _infer(Status.ok, 3000.0, "ok0000000001"), _infer(Status.infeasible, 99999.0, "bad000000001")


def test_calibration_ignores_non_ok_records_and_the_projection_says_so(records, tmp_path: Path) -> None:
    ok, bad = records
    catalog = load_catalog()
    assert [p.run_id for p in gather_points(catalog, [ok, bad], published=False)] == [ok.run_id]
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.add_many([ok, bad])
    proj = project("resnet50", "L4", dtype="fp16", batch=64, catalog=catalog, store=store)
    assert [p.run_id for p in proj.calibration_points] == [ok.run_id]
    assert "1 stored run(s) not ok (failed, infeasible, skipped, ...) hold no measurement: not used for " \
           "calibration" in proj.notes


def test_planner_refuses_to_size_from_a_non_ok_run(records, tmp_path: Path) -> None:
    _, bad = records
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.add(bad)
    catalog = load_catalog()
    plan = make_plan(workload={"model": {"run_id": bad.run_id, "dtype": "fp16"}})
    sizing = size_plan(plan, catalog, [catalog.accelerator("L4")], store)
    assert not sizing.fits
    assert any(f"run {bad.run_id}: status infeasible; only ok runs can be projected" in e
               for e in sizing.excluded), sizing.excluded


def test_dashboard_views_leave_non_ok_records_out_and_say_so(records) -> None:
    ok, bad = records
    both = [ok, bad]
    assert set(throughput_latency_points(both)["run_id"]) == {ok.run_id}
    assert set(metrics_frame(both)["run_id"]) == {ok.run_id}
    assert sample_keys([bad]) == [] and sample_keys(both) == ["latency_ms_b64"]
    assert roofline_points([bad]).points.empty
    assert not_measured_note(both) == (
        "1 of 2 runs are not ok (1 infeasible): listed with their reason, left out of metrics, comparisons "
        "and charts.")
    assert not_measured_note([ok]) is None


def test_benchmarks_page_says_which_runs_are_left_out(records, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'dash.db'}"
    Store(url).add_many(list(records))
    monkeypatch.setenv("CAPPLAN_STORE", url)
    at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=120).run()
    at.switch_page("sections/benchmarks.py").run()
    assert not at.exception, [e.message for e in at.exception]
    captions = [c.value for c in at.caption]
    assert ("1 of 2 runs are not ok (1 infeasible): listed with their reason, left out of metrics, "
            "comparisons and charts.") in captions
    runs, metrics = at.dataframe[0].value, at.dataframe[1].value
    assert set(runs["status"]) == {"ok", "infeasible"}  # listed, with the reason as its headline
    assert runs.set_index("status").loc["infeasible", "headline"].startswith("no batch meets the p99 SLO")
    assert set(metrics["run_id"]) == {records[0].run_id}
