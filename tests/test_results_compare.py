"""Compare verdicts on synthetic records with known shifts, through the pure function and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from harness_cli_helper import cli

from capplan.results.compare import FASTER, SAME, SLOWER, UNTESTED, compare_runs
from capplan.results.schema import RunRecord, Status
from capplan.results.stats import metric_from_samples
from capplan.results.store import Store


def record(benchmark: str, name: str, center: float, *, higher_is_better: bool, seed: int, n: int = 200,
           rel_noise: float = 0.02, status: Status = Status.ok, with_samples: bool = True) -> RunRecord:
    values = list(np.random.default_rng(seed).normal(center, center * rel_noise, n))
    metric = metric_from_samples(name, values, "u", higher_is_better=higher_is_better)
    return RunRecord(
        benchmark=benchmark,
        kind="gemm",
        status=status,
        metrics=[metric],
        samples={name: values} if with_samples else {},
        error=None if status == Status.ok else "x",
    )


@pytest.mark.parametrize(
    ("a_center", "b_center", "higher_is_better", "expected"),
    [
        (100.0, 110.0, True, FASTER),  # throughput up 10 %
        (100.0, 90.0, True, SLOWER),
        (10.0, 9.0, False, FASTER),  # latency down 10 %
        (10.0, 11.0, False, SLOWER),
        (100.0, 100.0, True, SAME),  # same distribution, different draws
        (100.0, 100.3, True, SAME),  # significant with n=200 maybe, but below the 1 % minimum effect
    ],
)
def test_verdicts_follow_the_shift_and_direction(
    a_center: float, b_center: float, higher_is_better: bool, expected: str
) -> None:
    a = record("g", "tflops", a_center, higher_is_better=higher_is_better, seed=1)
    b = record("g", "tflops", b_center, higher_is_better=higher_is_better, seed=2)
    (row,) = compare_runs([a], [b])
    assert row.verdict == expected
    assert row.ratio == pytest.approx(b.metrics[0].value / a.metrics[0].value)
    assert row.n_a == row.n_b == 200 and 0.0 <= row.p_value <= 1.0


def test_groups_pool_runs_pair_by_benchmark_and_ignore_failures() -> None:
    a = [record("g", "m", 100, higher_is_better=True, seed=s, n=20) for s in range(3)]
    b = [record("g", "m", 120, higher_is_better=True, seed=10 + s, n=20) for s in range(3)]
    b.append(record("g", "m", 1.0, higher_is_better=True, seed=99, status=Status.failed))
    b.append(record("other", "m", 120, higher_is_better=True, seed=50))
    (row,) = compare_runs(a, b)
    assert (row.benchmark, row.n_a, row.n_b, row.verdict) == ("g", 60, 60, FASTER)
    assert compare_runs([a[0]], [b[-1]]) == []  # different benchmarks do not pair by default
    assert compare_runs([a[0]], [b[-1]], by_benchmark=False)[0].benchmark == "*"


def test_records_without_raw_samples_get_a_ratio_but_no_test() -> None:
    a = record("g", "m", 100, higher_is_better=True, seed=1, with_samples=False)
    b = record("g", "m", 150, higher_is_better=True, seed=2, with_samples=False)
    (row,) = compare_runs([a], [b])
    assert row.verdict == UNTESTED and row.p_value is None and row.ratio == pytest.approx(1.5, rel=0.05)


def test_cli_compare_two_run_ids_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    a = record("g", "latency_ms", 10.0, higher_is_better=False, seed=1)
    b = record("g", "latency_ms", 8.0, higher_is_better=False, seed=2)
    Store(str(db)).add_many([a, b])
    code, out, _ = cli(capsys, "bench", "compare", a.run_id[:10], b.run_id[:10], "--store", str(db), "--json")
    (row,) = json.loads(out)["comparisons"]
    assert code == 0 and row["verdict"] == FASTER and row["metric"] == "latency_ms" and row["ratio"] < 1
    code, _, err = cli(capsys, "bench", "compare", a.run_id, "--store", str(db))
    assert code == 2 and "give two run ids" in err


def test_cli_compare_two_filters_as_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    base = [
        record("g", "tflops", 100, higher_is_better=True, seed=s).model_copy(update={"suite": "old"})
        for s in (1, 2)
    ]
    new = [
        record("g", "tflops", 80, higher_is_better=True, seed=s).model_copy(update={"suite": "new"})
        for s in (3, 4)
    ]
    Store(str(db)).add_many(base + new)
    code, out, _ = cli(capsys, "bench", "compare", "--a", "suite=old", "--b", "suite=new", "--store", str(db))
    assert code == 0 and "slower" in out and "2 runs" in out
    code, _, err = cli(
        capsys, "bench", "compare", "--a", "suite=old", "--b", "suite=none", "--store", str(db)
    )
    assert code == 2 and "nothing to compare" in err
