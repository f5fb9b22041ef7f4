"""Importers of external results: MLPerf LoadGen summary logs (published and produced here by a real
LoadGen run), MLPerf results CSV, optimum-benchmark reports; each round-trips through the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capplan.catalog import load_catalog
from capplan.cli import main
from capplan.errors import UserError
from capplan.perfmodel.calibration import point_from_record
from capplan.results.io import read_import_file
from capplan.results.schema import RunRecord, Source
from capplan.results.store import RunFilter, Store

# Verbatim from github.com/mlcommons/inference_results_v3.1 (Apache-2.0), commit eaf622a2,
# closed/NVIDIA/results/L4x1_TRT/resnet50/Offline/performance/run_1/mlperf_log_summary.txt
PUBLISHED_L4_SUMMARY = """================================================
MLPerf Results Summary
================================================
SUT name : LWIS_Server
Scenario : Offline
Mode     : PerformanceOnly
Samples per second: 12881.7
Result is : VALID
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: Yes

================================================
Additional Stats
================================================
Min latency (ns)                : 49376384
Max latency (ns)                : 666062793677
Mean latency (ns)               : 331952986848
50.00 percentile latency (ns)   : 331631985436
90.00 percentile latency (ns)   : 599170000608
95.00 percentile latency (ns)   : 632616266394
97.00 percentile latency (ns)   : 645995314139
99.00 percentile latency (ns)   : 659374179156
99.90 percentile latency (ns)   : 665393824545

================================================
Test Parameters Used
================================================
samples_per_query : 8580000
target_qps : 13000
target_latency (ns): 0
max_async_queries : 1
min_duration (ms): 600000
max_duration (ms): 0
min_query_count : 1
max_query_count : 0
qsl_rng_seed : 148687905518835231
sample_index_rng_seed : 520418551913322573
schedule_rng_seed : 811580660758947900
accuracy_log_rng_seed : 0
accuracy_log_probability : 0
accuracy_log_sampling_target : 0
print_timestamps : 0
performance_issue_unique : 0
performance_issue_same : 0
performance_issue_same_index : 0
performance_sample_count : 2048

No warnings encountered during test.

No errors encountered during test.
"""

# Trimmed from github.com/huggingface/optimum-benchmark benchmark.json (Apache-2.0), commit 83c4c9f5:
# environment keys cut down, load/forward sections kept as published.
OPTIMUM_REPORT = {
    "config": {
        "name": "tei_bert",
        "backend": {
            "name": "py-txi",
            "version": "0.10.0",
            "task": "feature-extraction",
            "model_type": "bert",
            "model": "BAAI/bge-base-en-v1.5",
            "device": "cpu",
            "device_ids": None,
            "dtype": None,
        },
        "scenario": {
            "name": "inference",
            "iterations": 10,
            "duration": 10,
            "warmup_runs": 10,
            "input_shapes": {"batch_size": 64, "num_choices": 2, "sequence_length": 128},
            "new_tokens": None,
            "generate_kwargs": {},
        },
        "launcher": {"name": "inline", "device_isolation": False},
        "environment": {
            "cpu": " Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
            "cpu_count": 8,
            "gpu": ["Tesla T4"],
            "gpu_count": 1,
            "optimum_benchmark_version": "0.5.0.dev0",
            "transformers_version": "4.45.2",
        },
    },
    "report": {
        "load": {
            "memory": None,
            "latency": {
                "unit": "s",
                "values": [15.59886232309509],
                "count": 1,
                "total": 15.59886232309509,
                "mean": 15.59886232309509,
                "p50": 15.59886232309509,
                "p90": 15.59886232309509,
                "p95": 15.59886232309509,
                "p99": 15.59886232309509,
                "stdev": 0,
            },
            "throughput": None,
            "energy": None,
            "efficiency": None,
        },
        "forward": {
            "memory": None,
            "latency": {
                "unit": "s",
                "values": [
                    11.477741526905447,
                    11.554612639942206,
                    11.268277329974808,
                    11.438665975932963,
                    11.257700112997554,
                    11.165944762993604,
                    11.163343374966644,
                    11.381994054070674,
                    11.254174266010523,
                    11.333256351063028,
                ],
                "count": 10,
                "total": 113.29571039485745,
                "mean": 11.329571039485746,
                "p50": 11.300766840518918,
                "p90": 11.485428638209124,
                "p95": 11.520020639075664,
                "p99": 11.547694239768898,
                "stdev": 0.12500955626540203,
            },
            "throughput": {"unit": "samples/s", "value": 5.648934083819028},
            "energy": None,
            "efficiency": None,
        },
    },
}

LOADGEN_SCRIPT = """
import sys
import mlperf_loadgen as lg

def issue(queries):
    lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in queries])

sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(16, 16, lambda s: None, lambda s: None)
settings = lg.TestSettings()
settings.scenario = lg.TestScenario.Offline
settings.mode = lg.TestMode.PerformanceOnly
settings.offline_expected_qps = 1000
settings.min_duration_ms = 100
settings.min_query_count = 1
out = lg.LogOutputSettings()
out.outdir = sys.argv[1]
out.copy_summary_to_stdout = False
log = lg.LogSettings()
log.log_output = out
log.enable_trace = False
lg.StartTestWithLogSettings(sut, qsl, settings, log)
lg.DestroyQSL(qsl)
lg.DestroySUT(sut)
"""


def round_trip(store_url: str, records: list[RunRecord]) -> list[RunRecord]:
    store = Store(store_url)
    try:
        assert store.add_many(records) == len(records)
        return [store.get(r.run_id) for r in records]
    finally:
        store.close()


def test_published_summary_log_round_trips(tmp_path: Path, store_url: str) -> None:
    run_dir = (
        tmp_path / "inference_results_v3.1/closed/NVIDIA/results/L4x1_TRT/resnet50/Offline/performance/run_1"
    )
    run_dir.mkdir(parents=True)
    log = run_dir / "mlperf_log_summary.txt"
    log.write_text(PUBLISHED_L4_SUMMARY)
    [record] = read_import_file(log)
    assert record.source is Source.imported and record.kind == "infer"
    assert record.metrics[0].name == "throughput_samples_per_s" and record.metrics[0].value == 12881.7
    assert record.metric("latency_p99_ms").value == pytest.approx(659374.179156)  # ns -> ms
    assert record.metric("latency_p99_9_ms").unit == "ms"
    assert record.config["qsl_rng_seed"] == 148687905518835231  # seeds keep full integer precision
    for key, value in {
        "round": "v3.1",
        "division": "closed",
        "submitter": "NVIDIA",
        "system": "L4x1_TRT",
    }.items():
        assert record.config[key] == value and value in record.origin
    assert record.tags["accelerator"] == "L4" and record.tags["result_validity"] == "VALID"
    assert round_trip(store_url, [record]) == [record]
    # The same result from the shipped results CSV gets the same id: importing both does not double count.
    published = read_import_file(Path(__file__).parents[1] / "capplan/catalog/data/published_mlperf.csv")
    assert record.run_id in {r.run_id for r in published}
    point = point_from_record(record, load_catalog(user_dir=False))
    assert point is not None and point.accelerator == "NVIDIA L4" and point.workload == "resnet50"


def test_summary_log_from_a_real_loadgen_run(tmp_path: Path, store_url: str) -> None:
    """Run mlcommons-loadgen here (a trivial SUT, 100 ms) and import the summary log it writes."""
    subprocess.run(
        [sys.executable, "-c", LOADGEN_SCRIPT, str(tmp_path)], check=True, timeout=60, capture_output=True
    )
    [record] = read_import_file(tmp_path / "mlperf_log_summary.txt")
    assert record.config["scenario"] == "Offline" and record.config["sut_name"] == "PySUT"
    throughput = record.metric("throughput_samples_per_s")
    assert throughput is not None and throughput.value > 0 and throughput.unit == "samples/s"
    assert record.metric("latency_p50_ms").value <= record.metric("latency_p99_ms").value
    assert record.tags["result_validity"] in {
        "VALID",
        "INVALID",
    }  # 100 ms is below LoadGen's minimum: INVALID
    assert round_trip(store_url, [record]) == [record]


def test_results_csv_round_trips_and_rejects_bad_rows(tmp_path: Path, store_url: str) -> None:
    good = tmp_path / "mlperf.csv"
    good.write_text(
        "Organization,System Name,Accelerator,# of "
        "Accelerators,Model,Scenario,Result,Units,Division,Version\n"
        "NVIDIA,H100-PCIe-80GBx1_TRT,H100-PCIe-80GB,1,bert-99,Offline,5711,Samples/s,closed,v3.1\n"
    )
    [record] = read_import_file(good)
    assert record.metric("throughput_samples_per_s").value == 5711
    assert "MLPerf Inference v3.1 closed NVIDIA H100-PCIe-80GBx1_TRT" in record.origin
    assert round_trip(store_url, [record]) == [record]
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text() + "NVIDIA,L4x1_TRT,L4,1,resnet50,Offline,12881.7,furlongs,closed,v3.1\n")
    with pytest.raises(UserError, match=r"bad\.csv: row 2: field 'units': 'furlongs'; allowed: samples/s"):
        read_import_file(bad)


def test_optimum_benchmark_report_round_trips(tmp_path: Path, store_url: str) -> None:
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(OPTIMUM_REPORT, indent=4))
    [record] = read_import_file(path)
    assert record.suite == "optimum-benchmark" and record.benchmark == "tei_bert"
    assert (
        record.metrics[0].name == "forward_throughput_samples_per_s" and record.metrics[0].unit == "samples/s"
    )
    p50 = record.metric("forward_latency_p50_ms")
    assert p50.value == pytest.approx(11300.766840518918) and p50.stats["p99"] == pytest.approx(
        11547.694239768898
    )
    assert len(record.samples["forward_latency_ms"]) == 10
    assert (
        record.config["batch"] == 64 and record.config["seq_len"] == 128 and record.config["device"] == "cpu"
    )
    assert record.tags["accelerator"].startswith("Intel(R) Xeon(R) Platinum 8259CL")
    assert round_trip(store_url, [record]) == [record]


def test_cli_import_unknown_format_exits_2_and_store_untouched(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "r.db"
    good = tmp_path / "benchmark.json"
    good.write_text(json.dumps(OPTIMUM_REPORT))
    odd = tmp_path / "notes.txt"
    odd.write_text("hello, these are not results\n")
    for path, expected in ((good, 0), (odd, 2)):
        with pytest.raises(SystemExit) as exc:
            main(["bench", "import", str(path), "--store", str(store)])
        assert exc.value.code == expected
    err = capsys.readouterr().err
    assert "unknown result format" in err and "mlperf-summary-log" in err and "optimum-benchmark-json" in err
    assert [r.benchmark for r in Store(str(store)).query(RunFilter())] == ["tei_bert"]
