"""One run in brief: the summary fields of a record and its one-line headline. The store indexes the
summary fields, and the CLI, the views and the dashboard show the headline, so each is defined once."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from capplan.results.schema import RunRecord, Status

# The run fields listings filter, group and order by (the store's indexed columns): no config, metrics
# or raw samples.
SUMMARY_FIELDS = ("run_id", "benchmark", "kind", "suite", "status", "source", "host_fingerprint",
                  "config_hash", "started_utc", "ended_utc")
HEADLINE_ERROR_CHARS = 100  # a failed run's headline is its error's first line, cut to fit a table cell


def record_summary(record: RunRecord, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
    """``SUMMARY_FIELDS`` of ``record``; enums as their values, and with ``mode="json"`` times as ISO 8601
    text."""
    row: dict[str, Any] = {
        "run_id": record.run_id,
        "benchmark": record.benchmark,
        "kind": record.kind,
        "suite": record.suite,
        "status": record.status.value,
        "source": record.source.value,
        "host_fingerprint": record.host_fingerprint,
        "config_hash": record.config_hash,
        "started_utc": record.started_utc,
        "ended_utc": record.ended_utc,
    }
    if mode == "json":
        row = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
    return row


def headline(record: RunRecord) -> str:
    """The run in one line: its first metric with unit, % of peak and a noisy mark, e.g.
    ``tflops_1024x1024x1024 = 0.1873 TFLOP/s (73% of peak, noisy)``; for a run that is not ok (failed,
    infeasible...: any metrics it kept are facts, not a measurement to quote) or has no metrics, the first
    line of its error (or ``no metrics``)."""
    if not record.metrics or record.status is not Status.ok:
        lines = (record.error or "").strip().splitlines()
        if not lines:
            return "no metrics"
        first = lines[0]
        return first if len(first) <= HEADLINE_ERROR_CHARS else first[: HEADLINE_ERROR_CHARS - 1] + "…"
    m = record.metrics[0]
    notes = [f"{m.pct_of_peak:.0f}% of peak"] if m.pct_of_peak is not None else []
    if m.noisy:
        notes.append("noisy")
    return f"{m.name} = {m.value:.4g} {m.unit}" + (f" ({', '.join(notes)})" if notes else "")
