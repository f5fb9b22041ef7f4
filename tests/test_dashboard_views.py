"""capplan.views: the dashboard's service layer (pure functions over records)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from capplan.results.schema import Metric, RunRecord, Status
from capplan.results.store import Store
from capplan.views.compare import comparison_frame
from capplan.views.diff import config_diff, flatten
from capplan.views.overview import latest_suite, quick_suite_command, store_summary
from capplan.views.roofline import gemm_intensity, roofline_points
from capplan.views.runs import metrics_frame
from capplan.views.sweeps import DEFAULT_SLO_MS, max_throughput_under_slo, slo_ms, throughput_latency_points

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def rec(
    bench: str,
    minutes: int,
    *,
    host: str = "h1",
    suite: str | None = "quick",
    status: Status = Status.ok,
    kind: str = "gemm",
    config: dict | None = None,
    metrics: list[Metric] | None = None,
    samples: dict | None = None,
) -> RunRecord:
    when = T0 + timedelta(minutes=minutes)
    return RunRecord(benchmark=bench, kind=kind, suite=suite, host_fingerprint=host, status=status,
                     error=None if status is Status.ok else "boom", started_utc=when,
                     ended_utc=when + timedelta(seconds=3), config=config or {}, metrics=metrics or [],
                     samples=samples or {})


def test_latest_suite_takes_newest_run_per_benchmark_on_the_newest_suites_host(tmp_path):
    records = [
        rec("a", 0, status=Status.failed), rec("a", 5),  # a: failed then fixed by a later run -> ok
        rec("b", 1, status=Status.timeout),
        rec("c", 2, suite="standard"),  # other suite: not part of quick
        rec("a", 3, host="h2", status=Status.oom),  # other host
        rec("z", 9, suite=None),  # ad-hoc run without a suite does not count as a suite
    ]
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.add_many(records)
    latest = latest_suite(store)
    assert latest is not None
    assert (latest.suite, latest.host_fingerprint) == ("quick", "h1")
    assert latest.status_counts == {"ok": 1, "timeout": 1}
    assert list(latest.runs["benchmark"]) == ["a", "b"]
    assert list(latest.runs["result"]) == ["no metrics", "boom"]  # each run's headline
    assert latest.newest_run_id == records[1].run_id
    summary = store_summary(store)
    assert (summary.runs, summary.hosts, summary.suites, summary.benchmarks) == (6, 2, 2, 4)
    assert summary.status_counts["failed"] == 1 and sum(summary.status_counts.values()) == 6


def test_empty_store_summary_and_command(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    assert store_summary(store).runs == 0 and latest_suite(store) is None
    cmd = quick_suite_command(store)
    assert cmd.startswith("capplan bench run --suite quick --store sqlite:///") and str(tmp_path) in cmd


def test_command_hides_a_password_behind_the_env_variable():
    class FakeUrl:  # only the two attributes the function reads
        url = "postgresql+psycopg://u:secret@db/capplan"
        display_url = "postgresql+psycopg://u:***@db/capplan"

    cmd = quick_suite_command(FakeUrl())  # type: ignore[arg-type]
    assert "secret" not in cmd and cmd.endswith('--store "$CAPPLAN_STORE"')


def test_comparison_frame_of_two_runs_and_of_two_hosts():
    rng = np.random.default_rng(1)

    def host_runs(bench: str, host: str, latency_ms: float, start: int) -> list[RunRecord]:
        return [rec(bench, start + i, host=host, metrics=[
            Metric(name="lat_ms", value=float(latency_ms * (1 + 0.01 * rng.standard_normal())), unit="ms",
                   higher_is_better=False),
            Metric(name="tp", value=float(100.0 * (1 + 0.01 * rng.standard_normal())), unit="1/s")])
            for i in range(4)]

    a, b = host_runs("x", "h1", 10.0, 0), host_runs("y", "h2", 8.0, 10)
    b[0] = b[0].model_copy(update={"metrics": [*b[0].metrics, Metric(name="only_b", value=1.0, unit="x")]})
    table = comparison_frame(a, b, by_benchmark=False).set_index("metric")
    assert list(table.index) == ["lat_ms", "tp"]  # only shared metrics
    assert table.loc["lat_ms", "verdict"] == "faster"  # lower latency is better
    assert table.loc["lat_ms", "p_value"] < 1e-3 and table.loc["lat_ms", "n_a"] == 4  # runs, not samples
    assert table.loc["lat_ms", "ratio"] == pytest.approx(
        np.median([r.metrics[0].value for r in b]) / np.median([r.metrics[0].value for r in a]))
    assert table.loc["tp", "verdict"] == "no significant difference"
    assert comparison_frame(b, a, by_benchmark=False).set_index("metric").loc["lat_ms", "verdict"] == "slower"
    # two single runs: a ratio, and no verdict on one run per side
    single = comparison_frame(a[:1], b[:1], by_benchmark=False).set_index("metric")
    assert single.loc["lat_ms", "verdict"] == "inconclusive: need >= 3 runs per side"
    # grouped by benchmark (the two-hosts view), x and y have nothing in common
    assert comparison_frame(a, b).empty


def test_config_diff_lists_only_differences():
    a = rec("x", 0, config={"dtype": "fp32", "params": {"batch": 1, "model": "bert"}})
    b = rec(
        "x", 1, config={"dtype": "fp32", "params": {"batch": 8, "model": "bert"}, "backend": "onnxruntime"}
    )
    diff = config_diff(a, b).set_index("field")
    assert set(diff.index) == {"config.params.batch", "config.backend"}
    assert diff.loc["config.params.batch"].tolist() == ["1", "8"]
    assert diff.loc["config.backend"].tolist() == ["(not set)", "onnxruntime"]
    assert config_diff(a, a).empty
    assert flatten({"a": {"b": {"c": 1}}, "d": [1]}) == {"a.b.c": 1, "d": [1]}


def test_gemm_intensity_and_roofline_ceilings():
    # 2*N^3 FLOPs over 3*N^2 fp32 elements of 4 bytes = N/6 FLOP/byte
    assert gemm_intensity(1200, 1200, 1200, "fp32") == pytest.approx(200.0)
    assert gemm_intensity(64, 64, 64, "bf16") == pytest.approx(2 * 64**3 / (3 * 64 * 64 * 2))
    assert gemm_intensity(8, 8, 8, "weird") is None
    gemm = rec("g", 0, config={"dtype": "fp32"}, metrics=[
        Metric(name="tflops_1200x1200x1200", value=0.5, unit="TFLOP/s"),
        Metric(name="tflops_600x600x600", value=0.4, unit="TFLOP/s")])
    membw = rec("m", 1, kind="membw", metrics=[Metric(name="triad_gbps", value=30.0, unit="GB/s"),
                                               Metric(name="triad_best_gbps", value=33.0, unit="GB/s")])
    roof = roofline_points([gemm, membw])
    assert len(roof.points) == 2
    assert roof.peak_tflops == 0.5 and roof.bandwidth_gbps == 33.0
    assert "best measured GEMM" in roof.ceiling_note
    with_peak = rec(
        "g",
        2,
        config={"dtype": "bf16"},
        metrics=[
            Metric(
                name="tflops_512x512x512",
                value=300.0,
                unit="TFLOP/s",
                peak=989.0,
                peak_source="catalog: H100",
            )
        ],
    )
    assert roofline_points([with_peak]).peak_tflops == 989.0


def test_throughput_latency_points_and_best_under_slo():
    def infer(batch: int, backend: str, tp: float, p99: float, minutes: int) -> RunRecord:
        return rec(
            f"infer-{backend}-{batch}",
            minutes,
            kind="infer",
            config={
                "backend": backend,
                "params": {"batch": batch},
                "facts": {"model": "bert", "batch": batch},
            },
            metrics=[
                Metric(name="throughput_samples_per_s", value=tp, unit="samples/s"),
                Metric(name="latency_ms", value=p99 / 2, unit="ms", stats={"p99": p99}),
            ],
        )

    records = [infer(1, "eager", 100, 20, 0), infer(8, "eager", 400, 150, 1), infer(32, "eager", 600, 450, 2),
               infer(1, "onnxruntime", 150, 15, 3), infer(8, "onnxruntime", 700, 90, 4),
               rec("gemm", 5)]
    points = throughput_latency_points(records)
    assert len(points) == 5 and set(points["series"]) == {"bert · eager", "bert · onnxruntime"}
    best = max_throughput_under_slo(points, 200.0).set_index("series")
    assert best.loc["bert · eager", "batch"] == 8 and best.loc["bert · onnxruntime", "throughput"] == 700
    assert max_throughput_under_slo(points, 10.0).empty


def test_metrics_frame_keeps_units_and_percent_of_peak():
    r = rec("g", 0, config={"backend": "eager"}, metrics=[
        Metric(name="tflops_8x8x8", value=2.0, unit="TFLOP/s", peak=8.0, stats={"p99": 2.5, "cv": 0.01})])
    row = metrics_frame([r]).iloc[0]
    assert (row["unit"], row["pct_of_peak"], row["p99"], row["backend"]) == ("TFLOP/s", 25.0, 2.5, "eager")


def test_sweep_inside_one_record_gives_one_curve_per_run():
    def sweep(backend: str, minutes: int, p99s: dict[int, float]) -> RunRecord:
        metrics = []
        for b, p99 in p99s.items():
            metrics += [
                Metric(name=f"latency_ms_b{b}", value=p99 * 0.8, unit="ms", stats={"p99": p99}),
                Metric(name=f"throughput_samples_per_s_b{b}", value=1000.0 * b / p99, unit="samples/s"),
            ]
        metrics += [Metric(name="throughput_samples_per_s", value=1.0, unit="samples/s"),
                    Metric(name="latency_p99_ms", value=1.0, unit="ms")]  # headline of the best batch
        return rec(f"infer-{backend}", minutes, kind="infer", metrics=metrics,
                   config={"backend": backend, "facts": {"model": "bert", "slo_p99_ms": 50.0}})

    a, b = sweep("eager", 0, {1: 5.0, 8: 30.0, 32: 120.0}), sweep("onnxruntime", 1, {1: 4.0, 8: 20.0})
    points = throughput_latency_points([b, a])
    assert len(points) == 5 and points["series"].nunique() == 2  # headline metrics are not extra points
    eager = points[points["series"].str.contains("eager")].set_index("batch")
    assert eager.loc[8, "latency_p99_ms"] == 30.0 and eager.loc[8, "throughput"] == pytest.approx(8000 / 30)
    assert slo_ms([b, a]) == 50.0 and slo_ms([rec("g", 0)]) == DEFAULT_SLO_MS
    best = max_throughput_under_slo(points, 50.0).set_index("series")
    assert sorted(best["batch"]) == [8, 8]
