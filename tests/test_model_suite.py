"""Model kinds through the real `capplan bench run` (subprocess per benchmark, records in SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from harness_cli_helper import cli

from capplan.results.schema import Status
from capplan.results.store import Store

BUDGET = {"warmup_max_s": 0.1, "min_iters": 5, "min_time_s": 0.0, "max_time_s": 0.2}
SUITE = {
    "suite": "models-mini",
    "defaults": {"timeout_s": 120, "budget": BUDGET},
    "benchmarks": [
        {
            "name": "infer-ort",
            "kind": "infer",
            "backend": "onnxruntime",
            "params": {"model": "mlp", "batches": [1, 4]},
        },
        {"name": "train", "kind": "train", "params": {"model": "mlp", "batches": [4]}},
        {
            "name": "lg-server",
            "kind": "loadgen",
            "params": {
                "model": "mlp",
                "scenario": "Server",
                "target_qps": 100,
                "min_duration_ms": 200,
                "min_query_count": 20,
            },
        },  # far too few queries for early stopping: INVALID
        {
            "name": "ort-bf16",
            "kind": "infer",
            "backend": "onnxruntime",
            "dtype": "bf16",
            "params": {"model": "mlp"},
        },
    ],
}
STORED_FACTS = {"model", "size", "backend", "dtype", "device", "batches", "seq_len", "flops_per_sample",
                "train_flops_per_sample", "param_bytes", "activation_bytes_per_sample"}


def test_model_suite_stores_records_with_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite, db = tmp_path / "models.yaml", tmp_path / "runs.db"
    suite.write_text(yaml.safe_dump(SUITE))
    code, out, err = cli(capsys, "bench", "run", "--suite", str(suite), "--store", str(db), "--json")
    assert code == 0, err
    statuses = {r["benchmark"]: r["status"] for r in json.loads(out)["runs"]}
    assert statuses == {"infer-ort": "ok", "train": "ok", "lg-server": "ok", "ort-bf16": "failed"}
    records = {r.benchmark: r for r in Store(str(db)).query()}
    for name in ("infer-ort", "train", "lg-server"):
        assert STORED_FACTS <= set(records[name].config["facts"]), name
    assert records["train"].metric("mfu_pct").peak_source.startswith("measured")
    server = records["lg-server"]
    assert server.status == Status.ok and server.config["facts"]["loadgen_validity"] == "INVALID"
    assert server.metric("loadgen_valid").value == 0 and server.config["facts"]["loadgen_reasons"]
    assert "dtype 'bf16'; allowed: fp32" in records["ort-bf16"].error


def test_unknown_backend_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {
        "suite": "bad",
        "benchmarks": [{"name": "x", "kind": "infer", "backend": "tensorrt", "params": {"model": "mlp"}}],
    }
    suite = tmp_path / "bad.yaml"
    suite.write_text(yaml.safe_dump(bad))
    code, _, err = cli(capsys, "bench", "run", "--suite", str(suite), "--store", str(tmp_path / "r.db"))
    assert (
        code == 2
        and "backend: 'tensorrt' is not supported by kind infer; allowed: eager, compile, onnxruntime" in err
    )
