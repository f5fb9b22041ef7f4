"""MLPerf LoadGen adapter, log parsing and the Server max-QPS search (its agreement with queueing theory is
timed, so it is a benchmark: benchmarks/loadgen_theory.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from capplan.hardware import placement
from capplan.harness.kinds.loadgen import LoadGenKind, _check_service
from capplan.harness.loadgen.logs import LoadGenResult, parse_logs, summary_reasons
from capplan.harness.loadgen.search import search_max_qps
from capplan.harness.loadgen.settings import ScenarioSettings
from capplan.harness.loadgen.sut import LoadGenRun, run_loadgen
from capplan.harness.spec import BenchmarkInfeasible, BenchmarkSpec, KindResult, RunContext
from capplan.harness.suite import load_suite


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPPLAN_CACHE_DIR", str(tmp_path))  # FLOP-count cache of this test only


def _sleeper(seconds: float):
    return lambda indices: time.sleep(seconds)


def test_single_stream_run_is_parsed(tmp_path: Path) -> None:
    settings = ScenarioSettings(
        scenario="SingleStream", min_duration_ms=300, min_query_count=64, expected_latency_ms=1
    )
    run = run_loadgen(_sleeper(0.001), settings, total_samples=16, outdir=tmp_path)
    res = run.result
    assert (tmp_path / "mlperf_log_summary.txt").exists()
    assert res.scenario == "SingleStream" and res.query_count >= 64
    assert res.valid == all(res.checks.values()) and set(res.checks) >= {
        "result_min_duration_met",
        "early_stopping_met",
    }
    p = res.latency_percentiles_ms
    assert list(p) == ["50", "90", "95", "97", "99", "99.9"] and p["50"] >= 1.0  # a query sleeps >= 1 ms
    assert p["50"] <= p["90"] <= p["99"] <= p["99.9"]
    assert len(run.latencies_s) == res.query_count and min(run.latencies_s) >= 1e-3
    assert res.samples_per_s is not None and res.samples_per_s > 0


def test_short_server_run_is_invalid_with_loadgen_reason() -> None:
    settings = ScenarioSettings(scenario="Server", target_qps=200, latency_bound_ms=100, min_duration_ms=300,
                                min_query_count=10)
    res = run_loadgen(_sleeper(0.001), settings, total_samples=16).result
    assert not res.valid
    assert res.checks["result_perf_constraints_met"] and not res.checks["early_stopping_met"]
    assert "Early stopping satisfied: NO" in res.reasons
    assert res.target_qps == 200 and res.latency_bound_ms == 100
    assert res.early_stopping and "queries" in res.early_stopping


def test_offline_batches_and_multistream_queries() -> None:
    offline = ScenarioSettings(scenario="Offline", target_qps=2000, min_duration_ms=200, min_query_count=1)
    run = run_loadgen(_sleeper(0.001), offline, total_samples=32, max_batch=8)
    assert run.result.query_count == 1 and max(run.batch_sizes) == 8
    assert sum(run.batch_sizes) == len(run.latencies_s)
    multi = ScenarioSettings(
        scenario="MultiStream",
        samples_per_query=4,
        expected_latency_ms=2,
        min_duration_ms=200,
        min_query_count=20,
    )
    run = run_loadgen(_sleeper(0.001), multi, total_samples=32, max_batch=4)
    assert run.result.scenario == "MultiStream" and run.result.samples_per_s is None
    assert len(run.latencies_s) == 4 * run.result.query_count


def test_sut_errors_surface_after_loadgen_ends() -> None:
    def broken(indices):
        raise RuntimeError("model exploded")

    settings = ScenarioSettings(
        scenario="SingleStream", min_duration_ms=50, min_query_count=5, expected_latency_ms=1
    )
    with pytest.raises(RuntimeError, match="model exploded"):
        run_loadgen(broken, settings, total_samples=4)


def test_log_parsing_errors_and_summary_reasons(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no mlperf_log_detail.txt"):
        parse_logs(tmp_path)
    (tmp_path / "mlperf_log_detail.txt").write_text(
        ':::MLLOG {"key": "effective_scenario", "value": "Server"}\nnoise\n'
    )
    with pytest.raises(ValueError, match="did not finish"):
        parse_logs(tmp_path)
    text = ("Result is : INVALID\n  Performance constraints satisfied : NO\n  Min duration satisfied : Yes\n"
            "Recommendations:\n * Reduce target QPS to improve latency.\nEarly Stopping Result:\n")
    assert summary_reasons(text) == [
        "Performance constraints satisfied : NO",
        "Reduce target QPS to improve latency.",
    ]


def _result(valid: bool) -> LoadGenResult:
    return LoadGenResult(
        scenario="Server",
        valid=valid,
        checks={
            "result_perf_constraints_met": valid,
            "result_min_duration_met": True,
            "result_min_queries_met": True,
            "early_stopping_met": valid,
        },
    )


def test_search_brackets_then_bisects() -> None:
    calls: list[float] = []

    def run_at(qps: float) -> LoadGenResult:
        calls.append(qps)
        return _result(qps <= 37.0)

    found = search_max_qps(run_at, start_qps=10, rel_tol=0.02, max_runs=20)
    assert 37.0 * 0.98 <= found.max_qps <= 37.0 and found.upper_failed_qps > 37.0
    assert calls[:3] == [10, 20, 40] and len(found.trials) == len(calls)
    assert search_max_qps(lambda q: _result(False), start_qps=10, max_runs=4).max_qps == 0.0


def test_loadgen_kind_end_to_end_and_errors() -> None:
    spec = BenchmarkSpec(name="t-lg", kind="loadgen", params={"model": "mlp", "scenario": "SingleStream",
                                                               "min_duration_ms": 300, "min_query_count": 64})
    kind = LoadGenKind()
    result = kind.run(
        spec, kind.Params.model_validate(spec.params), RunContext(spec=spec, log=lambda _: None)
    )
    assert result.metrics[0].name == "latency_p90_ms"
    assert result.config["loadgen_validity"] in ("VALID", "INVALID")
    valid = next(m for m in result.metrics if m.name == "loadgen_valid").value
    assert valid == (result.config["loadgen_validity"] == "VALID")
    assert result.config["loadgen_settings"]["expected_latency_ms"] == pytest.approx(
        result.config["calibrated_service_ms"]
    )
    assert len(result.samples["sut_latency_ms"]) == result.config["loadgen_query_count"]
    # a run that ended with the vCPUs apart was repeated (at most RERUNS times); the last one is kept
    assert 0 <= result.config["placement_reruns"] <= placement.RERUNS
    if not result.config["placement_reference"]:
        assert result.config["placement_reruns"] == placement.RERUNS and result.metrics[0].noisy
    bad = spec.model_copy(update={"params": {"model": "mlp", "scenario": "Offline", "search_max_qps": True}})
    with pytest.raises(ValueError, match="needs scenario Server"):
        kind.run(bad, kind.Params.model_validate(bad.params), RunContext(spec=bad))


def test_quick_suite_has_validated_model_entries() -> None:
    suite = load_suite("quick")
    kinds = {b.spec.name: b.spec.kind for b in suite.benchmarks}
    assert {"infer-bert-ort", "infer-resnet-ort", "train-bert-tiny", "loadgen-bert-singlestream"} <= set(
        kinds
    )
    assert kinds["loadgen-bert-singlestream"] == "loadgen"


def _kind_run(params: dict):
    spec = BenchmarkSpec(name="t-lg", kind="loadgen", params={"model": "mlp", **params})
    kind = LoadGenKind()
    return kind.run(spec, kind.Params.model_validate(spec.params), RunContext(spec=spec, log=lambda _: None))


def test_loadgen_latency_metrics_carry_ci_noise_and_supported_percentiles_only() -> None:
    result = _kind_run({"scenario": "SingleStream", "min_duration_ms": 300, "min_query_count": 200,
                        "max_query_count": 500})
    n = result.config["loadgen_query_count"]
    assert 200 <= n < 1000
    p99 = next(m for m in result.metrics if m.name == "latency_p99_ms")
    assert p99.stats["n"] == n and p99.stats["p99_ci_low"] <= p99.stats["p99_adapter"]
    assert ("headline_ci95_rel" in p99.stats) == ("p99_ci_high" in p99.stats)
    # p99.9 needs 1000 queries: not reported, with the reason
    assert all(m.name != "latency_p999_ms" for m in result.metrics)
    assert result.config["not_reported"]["latency_p999_ms"] == (
        f"latency_p999_ms: not enough samples for p999 (n={n}; needs n >= 1000)")
    rate = next(m for m in result.metrics if m.name == "samples_per_s")
    assert rate.stats["n"] == 20 and rate.stats["window_rate_median"] > 0


def test_infeasible_server_bound_ends_after_calibration_with_the_numbers() -> None:
    with pytest.raises(BenchmarkInfeasible) as exc:
        _kind_run({"scenario": "Server", "latency_bound_ms": 1e-6, "search_max_qps": True})
    message = str(exc.value)
    assert message.startswith("p99 bound 1e-06 ms < calibrated service time ")
    assert "for one sample (median of" in message and "raise latency_bound_ms" in message
    facts = exc.value.result
    assert facts is not None and facts.config["calibrated_service_ms"] > 1e-6
    assert "search_trials" not in facts.config and "loadgen_query_count" not in facts.config  # no LoadGen run


def test_host_dependent_bound_is_derived_from_calibration_and_recorded() -> None:
    # 1000 x a ~0.1 ms service time: ~100 ms, far above any queueing this tiny model sees
    result = _kind_run({"scenario": "Server", "latency_bound_ms": 1e-6, "latency_bound_min_x_service": 1000,
                        "min_duration_ms": 300, "min_query_count": 50})
    service_ms = result.config["calibrated_service_ms"]
    bound = result.config["loadgen_settings"]["latency_bound_ms"]
    assert bound == pytest.approx(1000 * service_ms) and result.config["loadgen_latency_bound_ms"] == (
        pytest.approx(bound, rel=1e-6))
    assert result.config["latency_bound_rule"].startswith(
        "max(latency_bound_ms 1e-06 ms, 1000 x calibrated service")


def test_search_without_a_passing_rate_is_infeasible_not_zero() -> None:
    # LoadGen cannot issue 10^6 queries within a 300 ms cap: every rate fails "min queries"
    with pytest.raises(BenchmarkInfeasible) as exc:
        _kind_run({"scenario": "Server", "latency_bound_ms": 1000, "search_max_qps": True,
                   "search_max_runs": 2, "min_duration_ms": 100, "max_duration_ms": 300,
                   "min_query_count": 1_000_000})
    message = str(exc.value)
    assert message.startswith("no target QPS met the Server constraints (criterion valid, p99 bound 1000 ms) "
                              "in 2 LoadGen runs: ")
    assert "Min queries satisfied : NO" in message
    assert len(exc.value.result.config["search_trials"]) == 2


def test_service_times_above_the_bound_stop_the_search() -> None:
    settings = ScenarioSettings(scenario="Server", latency_bound_ms=5)
    run = LoadGenRun(result=_result(False), service_s=[0.004] * 90 + [0.010] * 10)  # p99 of 100 calls: 10 ms
    result = KindResult(metrics=[])
    with pytest.raises(BenchmarkInfeasible, match=r"p99 bound 5 ms < p99 service time 10 ms of 100 calls"):
        _check_service(run, settings, result)
    _check_service(LoadGenRun(result=_result(False), service_s=[0.010] * 99), settings, result)  # n < 100
    _check_service(LoadGenRun(result=_result(False), service_s=[0.004] * 100), settings, result)  # p99 4 ms
    # the same slow tail while other processes used 60 % of the CPU: no conclusion (the search goes on)
    _check_service(run, settings, result, others_pct=60.0)


def test_cli_stores_an_infeasible_server_spec_with_its_reason(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case in small: a Server bound below the service time is known after calibration; the
    run is stored as infeasible with the numbers, without one LoadGen trial and without a headline."""
    import json

    import yaml
    from harness_cli_helper import cli

    from capplan.results.schema import Status
    from capplan.results.store import Store

    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"suite": "t", "benchmarks": [{
        "name": "lg-server-infeasible", "kind": "loadgen",
        "params": {"model": "bert", "scenario": "Server", "latency_bound_ms": 0.001, "search_max_qps": True,
                   "min_duration_ms": 5000, "min_query_count": 500}}]}))
    db = tmp_path / "runs.db"
    code, out, _ = cli(capsys, "bench", "run", "--suite", str(suite), "--store", str(db), "--json")
    assert code == 0
    (row,) = json.loads(out)["runs"]
    assert row["status"] == "infeasible"
    (record,) = Store(str(db), create=False).query()
    assert record.status is Status.infeasible and not record.metrics
    assert record.error.startswith("p99 bound 0.001 ms < calibrated service time ")
    assert "search_trials" not in record.config["facts"]  # ended before the first LoadGen trial
