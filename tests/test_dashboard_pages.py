"""Every dashboard page under streamlit's AppTest with a real seeded SQLite store: no exceptions, key
elements present, and a widget change changes a number on the page."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from capplan.results.store import Store

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboards" / "app.py")
SEEDED_RUNS = 140


def _bench_module():
    spec = importlib.util.spec_from_file_location(
        "dashboard_bench", ROOT / "benchmarks" / "dashboard_bench.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'seeded.db'}"
    _bench_module().seed_store(url, SEEDED_RUNS)
    return url


def app(url: str, monkeypatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("CAPPLAN_STORE", url)
    at = AppTest.from_file(APP, default_timeout=120).run()
    if page:
        at.switch_page(f"sections/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _decode(node):
    """Plotly JSON with its base64 typed arrays ({"dtype", "bdata"}) turned back into lists."""
    if isinstance(node, dict):
        if set(node) >= {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"]).tolist()
        return {k: _decode(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_decode(v) for v in node]
    return node


def figures(at: AppTest) -> list[dict]:
    """The page's plotly figures as plain dicts."""
    return [_decode(json.loads(p.proto.spec)) for p in at.get("plotly_chart")]


def test_overview_with_runs(seeded_url, monkeypatch):
    at = app(seeded_url, monkeypatch)
    assert at.title[0].value == "Overview"
    assert metric(at, "Runs") == f"{SEEDED_RUNS:,}"
    assert metric(at, "Hosts") == "3"
    assert any(h.value.startswith("Latest suite: ") for h in at.subheader)
    assert not at.code  # the "run this first" hint is only for an empty store
    # the latest suite's host as recorded with its runs; the live machine only on request
    headings = [h.value for h in at.subheader]
    assert "Host of the latest suite" in headings and "This machine" not in headings
    recorded = at.dataframe[-2].value.set_index("field")
    assert recorded.loc["fingerprint", "value"] in {
        "a1b2c3d4e5f60001",
        "a1b2c3d4e5f60002",
        "a1b2c3d4e5f60003",
    }
    at.toggle(key="overview_live").set_value(True).run()
    assert "This machine" in [h.value for h in at.subheader]
    from capplan.hardware.inventory import collect_inventory

    live = at.dataframe[-2].value.set_index("field")
    assert live.loc["fingerprint", "value"] == collect_inventory().fingerprint


def test_overview_of_an_empty_store_says_what_to_run(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    at = app(url, monkeypatch)
    assert metric(at, "Runs") == "0"
    assert at.code[0].value == f"capplan bench run --suite quick --store {url}"
    # the other pages say where to start instead of failing on an empty store
    at.switch_page("sections/benchmarks.py").run()
    assert not at.exception and "Overview" in at.info[0].value


def test_a_store_that_is_not_capplan_shows_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "notes.db"
    bad.write_text("not sqlite at all")
    monkeypatch.setenv("CAPPLAN_STORE", str(bad))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "not a SQLite database" in at.error[0].value
    assert bad.read_text() == "not sqlite at all"


def test_benchmarks_filters_change_what_is_shown(seeded_url, monkeypatch):
    at = app(seeded_url, monkeypatch, "benchmarks")
    assert at.title[0].value == "Benchmarks"
    assert [t.label for t in at.tabs] == ["Results", "Compare two runs", "Latency distributions",
                                          "Throughput vs latency", "Roofline"]
    shown_all = at.caption[0].value
    assert shown_all.startswith(f"{SEEDED_RUNS:,} runs shown")
    metrics = at.dataframe[1].value
    assert {"metric", "value", "unit", "p99", "noisy"} <= set(metrics.columns)
    assert set(metrics["unit"]) >= {"TFLOP/s", "GB/s", "ms", "samples/s"}

    at.sidebar.selectbox(key="bench_benchmark").set_value("membw").run()
    assert not at.exception
    n_membw = len(Store(seeded_url).query(_filter(benchmark="membw")))
    assert at.caption[0].value.startswith(f"{n_membw:,} runs shown")
    assert set(at.dataframe[1].value["metric"]) == {"triad_gbps"}

    at.sidebar.selectbox(key="bench_benchmark").set_value("(all)").run()
    at.sidebar.multiselect(key="bench_backend").set_value(["onnxruntime"]).run()
    backends = set(at.dataframe[0].value["backend"])
    assert backends == {"onnxruntime"}


def test_benchmarks_pages_through_the_runs(seeded_url, monkeypatch):
    at = app(seeded_url, monkeypatch, "benchmarks")
    at.sidebar.number_input(key="bench_page_size").set_value(60).run()
    first = list(at.dataframe[0].value["run_id"])
    at.sidebar.number_input(key="bench_page").set_value(3).run()
    assert not at.exception
    assert at.caption[0].value.startswith(f"20 runs shown (newest first: 121–140 of {SEEDED_RUNS} matching")
    last = list(at.dataframe[0].value["run_id"])
    newest_first = [r.run_id for r in Store(seeded_url).query()]
    assert first == newest_first[:60] and last == newest_first[120:]


def _filter(**kw):
    from capplan.results.store import RunFilter

    return RunFilter(**kw)


def test_benchmarks_compare_distribution_curves_and_roofline(seeded_url, monkeypatch):
    at = app(seeded_url, monkeypatch, "benchmarks")
    at.sidebar.selectbox(key="bench_benchmark").set_value("gemm-fp32").run()
    # compare: the two newest gemm runs ran on different hosts with the same config
    diff = at.dataframe[2].value
    assert "host_fingerprint" in set(diff["field"]) and not any(
        f.startswith("config.") for f in diff["field"]
    )
    table = at.dataframe[3].value
    assert list(table["metric"]) == ["tflops_1024x1024x1024"]
    assert 0.5 < table["ratio"].iloc[0] < 2
    assert table["verdict"].iloc[0] == "inconclusive: need >= 3 runs per side"  # one run per side
    # distributions: one box per run, raw samples
    dist = figures(at)[0]
    assert dist["data"][0]["type"] == "box" and len(dist["data"][0]["y"]) == 40
    # roofline: the measured point sits at 1024/6 FLOP/byte, at or under the compute ceiling
    roof = figures(at)[-1]
    points = [t for t in roof["data"] if t["mode"] == "markers"][0]
    assert points["x"][0] == pytest.approx(1024 / 6)

    # two hosts: all their gemm runs pooled per benchmark
    at.radio(key="bench_compare_mode").set_value("two hosts").run()
    hosts = at.dataframe[3].value
    assert list(hosts["benchmark"]) == ["gemm-fp32"] and hosts["n_a"].iloc[0] >= 3  # several runs per host
    assert 0 <= hosts["p_value"].iloc[0] <= 1

    at.sidebar.selectbox(key="bench_benchmark").set_value("(all)").run()
    curve = next(f for f in figures(at) if f["layout"]["yaxis"]["title"]["text"] == "p99 latency (ms)")
    slo_line = lambda fig: [s["y0"] for s in fig["layout"]["shapes"]]  # noqa: E731
    assert slo_line(curve) == [200.0]
    at.number_input(key="bench_slo_ms").set_value(50.0).run()
    curve = next(f for f in figures(at) if f["layout"]["yaxis"]["title"]["text"] == "p99 latency (ms)")
    assert slo_line(curve) == [50.0]


def test_hardware_projects_onto_catalog_accelerators(seeded_url, monkeypatch):
    at = app(seeded_url, monkeypatch, "hardware")
    titles = [h.value for h in at.subheader]
    assert titles[0] == "This host beside the catalog" and titles[1].startswith("Projection: bert\\-base")
    peaks = at.dataframe[0].value
    assert peaks["accelerator"].iloc[0].endswith("(measured)")  # this host's row leads the catalog rows
    assert peaks["mem_bw_gbps"].iloc[0] > 0
    proj = at.dataframe[1].value.set_index("accelerator")
    assert len(proj) >= 3
    assert (
        (proj["band_low"] <= proj["throughput_per_s"]) & (proj["throughput_per_s"] <= proj["band_high"])
    ).all()
    costs = at.dataframe[2].value
    assert (costs["usd_per_gpu_hour"] > 0).all() and costs["price_source"].str.startswith("catalog").all()
    assert costs["price_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \((read|published|commit)\)( STALE)?").all()

    name = proj.index[0]
    before = proj.loc[name, ["latency_ms", "memory_required_gib"]]
    at.sidebar.number_input(key="hw_batch").set_value(128).run()
    assert not at.exception
    after = at.dataframe[1].value.set_index("accelerator").loc[name, ["latency_ms", "memory_required_gib"]]
    assert after["memory_required_gib"] > before["memory_required_gib"]  # bigger batch, more activations
    assert after["latency_ms"] > before["latency_ms"]  # and a longer step

    # a stored model run as the workload: its measured FLOP counts are projected
    at.sidebar.radio(key="hw_source").set_value("stored run").run()
    assert not at.exception and not at.warning
    assert at.subheader[1].value.startswith("Projection: bert\\-tiny")
    assert any("measured counts" in c.value for c in at.caption)


def _break_even(at: AppTest) -> int | None:
    text = metric(at, "Break-even month")
    return int(text) if text.isdigit() else None


def test_costs_break_even_moves_with_electricity_price(seeded_url, monkeypatch):
    from capplan.catalog import load_catalog
    from capplan.views.costs import instance_label
    from capplan.views.text import md_escape

    at = app(seeded_url, monkeypatch, "costs")
    heads = [h.value for h in at.subheader]
    assert heads[1] == "Carbon beside cost" and heads[3] == "Sensitivity (tornado)"
    carbon = at.dataframe[1].value
    assert len(carbon) == 2 and (carbon["total_t"] > 0).all() and carbon["source"].str.contains("g/kWh").all()
    options = set(at.dataframe[2].value["option"])
    assert options == {"on-prem (busy GPU-hour)", "cloud (always_on, per busy GPU-hour)"}
    captions = [c.value.replace("\\", "") for c in at.caption]  # captions are Markdown-escaped
    assert any("Cloud billing: always_on" in c and "residual (book value) credit" in c for c in captions)
    tornado = at.dataframe[3].value
    assert "onprem.electricity_usd_per_kwh" in set(tornado["driver"])
    assert list(tornado["swing_usd"]) == sorted(tornado["swing_usd"], reverse=True)

    # the dearest cloud instance of the default accelerator: owning pays back within the horizon
    box = at.sidebar.selectbox(key="cost_accelerator")
    name = box.options[box.value]  # options are the labels, the value is the index
    instances = load_catalog().instances_for(name)
    labels = at.sidebar.selectbox(key=f"cost_instance_{name}").options
    assert labels == [instance_label(i) for i in instances] and all("; prices 20" in x for x in labels)
    at.sidebar.selectbox(key=f"cost_instance_{name}").set_value(len(instances) - 1).run()
    dated = md_escape(instances[-1].price_age().label())
    assert any(dated in c.value for c in at.caption)  # the Sources caption names the price date
    cheap_power = _break_even(at)
    saving = metric(at, "Cloud minus on-prem after 60 months")
    assert cheap_power is not None
    at.number_input(key="cost_onprem_electricity_usd_per_kwh").set_value(0.6).run()
    assert not at.exception
    dear_power = _break_even(at)
    assert dear_power is not None and dear_power > cheap_power  # dearer power: owning pays back later
    assert metric(at, "Cloud minus on-prem after 60 months") != saving
    edited = at.dataframe[-1].value.set_index("name")
    assert edited.loc["electricity_usd_per_kwh", "value"] == 0.6
    # autoscaled billing rents only busy hours (plus the warm floor): renting gets cheaper, the metric says so
    always = metric(at, "Cloud $/busy GPU-hour (all-in)")
    at.sidebar.selectbox(key="cost_billing").set_value("autoscaled").run()
    assert not at.exception and metric(at, "Cloud $/busy GPU-hour (all-in)") != always
    assert any("Cloud billing: autoscaled" in c.value.replace("\\", "") for c in at.caption)


def test_costs_without_a_cited_gpu_price_asks_for_a_quote(seeded_url, monkeypatch):
    from capplan.catalog import load_catalog

    at = app(seeded_url, monkeypatch, "costs")
    box = at.sidebar.selectbox(key="cost_accelerator")
    cat = load_catalog()
    unpriced = next(
        i
        for i, label in enumerate(box.options)
        if cat.find_accelerator(label) and cat.purchase_price(label) is None
    )
    box.set_value(unpriced).run()
    assert not at.exception and "enter a quote" in at.info[0].value
    name = box.options[unpriced]
    at.sidebar.number_input(key=f"cost_gpu_price_{name}").set_value(25_000.0).run()
    assert not at.exception and not at.info
    assert metric(at, "On-prem $/busy GPU-hour").startswith("$")


PLAN_YAML = """
name: Dashboard test [plan](http://example.com)
start: 2027-01-01
horizon_quarters: 4
workloads:
  - name: scoring
    type: inference
    model: {workload: bert-base, dtype: bf16}
    demand: {now: 800, unit: qps, growth_pct_per_quarter: 20}
    burstiness: 2
candidates:
  accelerators: ["NVIDIA A100 80GB SXM", "NVIDIA L4"]
"""


def plan_app(url: str, monkeypatch, page: str, text: str = PLAN_YAML) -> AppTest:
    monkeypatch.setenv("CAPPLAN_STORE", url)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["plan_uploaded"] = {"name": "test.yaml", "text": text}  # what the uploader stores
    at.run()
    at.switch_page(f"sections/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_capacity_plan_timeline_and_orders(seeded_url, monkeypatch):
    at = plan_app(seeded_url, monkeypatch, "plan")
    heading = at.subheader[0].value
    assert heading.startswith("Dashboard test \\[plan\\]\\(http") and "2027-Q1 to 2027-Q4" in heading
    assert metric(at, "Recommended net cost").startswith("$")
    frames = {tuple(df.value.columns)[:3]: df.value for df in at.dataframe}
    timeline = next(v for k, v in frames.items() if k == ("quarter", "quarter_start", "resource_class"))
    assert set(timeline["quarter"]) <= {"2027-Q1", "2027-Q2", "2027-Q3", "2027-Q4"}
    assert (timeline["gap_gpus"] >= 0).all()


def test_a_bad_plan_shows_the_field_and_what_is_allowed(seeded_url, monkeypatch):
    at = plan_app(
        seeded_url, monkeypatch, "plan", PLAN_YAML.replace("horizon_quarters: 4", "horizon_quarterz: 4")
    )
    assert "horizon\\_quarterz" in at.error[0].value and "unknown field" in at.error[0].value


def test_recommendations_show_each_sensitive_workloads_constraints(seeded_url, monkeypatch):
    text = PLAN_YAML.replace(
        "    burstiness: 2\n",
        "    burstiness: 2\n    sensitivity: region\n    allowed_jurisdictions: [US]\n"
        "    approved_providers: [AWS]\n",
    )
    at = plan_app(seeded_url, monkeypatch, "recommendations", text)
    assert "Data residency: constraints of each sensitive workload" in [s.value for s in at.subheader]
    shown = [m.value.replace("\\", "") for m in at.markdown if m.value.startswith("**scoring**")]
    assert len(shown) == 1
    rules, placed, excluded = shown[0].split("  \n")
    assert rules == "**scoring**: sensitivity: region; allowed_jurisdictions: US; approved_providers: AWS"
    assert placed.startswith("Placed: ") and ", and AWS is an approved provider" in placed
    assert "Lambda is not an approved provider (approved_providers: AWS)" in excluded
    checked = next(df.value for df in at.dataframe if "rule" in df.value.columns)
    assert set(checked["workload"]) == {"scoring"} and not checked[~checked["allowed"]].empty


def test_recommendations_reasons_alternatives_and_downloads(seeded_url, monkeypatch):
    at = plan_app(seeded_url, monkeypatch, "recommendations")
    reasons = [m.value for m in at.markdown if m.value.startswith("- **")]
    assert reasons and all("](" not in r for r in reasons)  # shown as text, never as links
    assert {m.label for m in at.metric} >= {"Recommended", "All cloud", "All on-prem"}
    labels = {b.label for b in at.get("download_button")}
    assert {"report.md", "report.html", "result.json", "purchases.csv", "placement.csv"} <= labels
