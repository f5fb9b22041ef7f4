"""The one headline formatter and the one record summary, shared by the CLI, views and dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

from capplan.results.schema import Metric, RunRecord, Source, Status
from capplan.results.store import Store
from capplan.results.summary import SUMMARY_FIELDS, headline, record_summary
from capplan.views.runs import runs_frame

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def rec(metrics: list[Metric], status: Status = Status.ok, error: str | None = None) -> RunRecord:
    return RunRecord(benchmark="b", kind="gemm", status=status, error=error, metrics=metrics, started_utc=T0,
                     ended_utc=T0)


def test_headline_of_ok_noisy_peak_and_failed_runs():
    tflops = Metric(name="tflops_1024x1024x1024", value=0.187312, unit="TFLOP/s")
    assert headline(rec([tflops])) == "tflops_1024x1024x1024 = 0.1873 TFLOP/s"
    noisy = Metric(name="add_latency_us", value=2.7341, unit="µs", noisy=True, higher_is_better=False)
    assert headline(rec([noisy])) == "add_latency_us = 2.734 µs (noisy)"
    peak = tflops.model_copy(update={"peak": 0.25, "noisy": True})
    assert headline(rec([peak, noisy])) == "tflops_1024x1024x1024 = 0.1873 TFLOP/s (75% of peak, noisy)"
    assert headline(rec([], Status.failed, "RuntimeError: boom\n  at line 3")) == "RuntimeError: boom"
    assert headline(rec([], Status.skipped, "needs a CUDA device")) == "needs a CUDA device"
    assert headline(rec([], Status.failed, "x" * 300)) == "x" * 99 + "…"
    assert headline(rec([])) == "no metrics"


def test_record_summary_is_what_the_store_lists_and_the_views_show(tmp_path):
    r = RunRecord(
        benchmark="b",
        kind="gemm",
        suite="quick",
        host_fingerprint="h",
        source=Source.imported,
        status=Status.timeout,
        error="slow",
        started_utc=T0,
        ended_utc=T0,
        config={"backend": "eager"},
    )
    summary = record_summary(r)
    assert tuple(summary) == SUMMARY_FIELDS
    assert (summary["status"], summary["source"], summary["started_utc"]) == ("timeout", "imported", T0)
    assert record_summary(r, mode="json")["started_utc"] == "2026-03-01T09:30:00+00:00"
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.add(r)
    assert store.summaries() == [summary]
    row = runs_frame([r]).iloc[0]
    assert (row["status"], row["backend"], row["headline"]) == ("timeout", "eager", "slow")


def test_cli_list_shows_the_same_headlines(tmp_path):
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 's.db'}"
    ok = rec([Metric(name="tflops", value=0.1812, unit="TFLOP/s", peak=0.4, noisy=True)])
    failed = rec([], Status.failed, "RuntimeError: boom")
    Store(url).add_many([ok, failed])
    out = subprocess.run(
        [sys.executable, "-m", "capplan", "bench", "list", "--store", url],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, COLUMNS="200"),
    ).stdout
    assert "tflops = 0.1812 TFLOP/s (45% of peak, noisy)" in out and "RuntimeError: boom" in out
