"""Tables of stored runs: summary rows, one row per run, one row per (run, metric)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from capplan.results.schema import RunRecord, Status
from capplan.results.summary import SUMMARY_FIELDS, headline, record_summary

# Facts the harness stores in ``config`` that readers filter and group by.
CONFIG_FACETS = ("backend", "device", "dtype")


def summaries_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Summary rows (``SUMMARY_FIELDS``, as ``Store.summaries()`` returns them) as a typed frame with
    ``duration_s``."""
    df = pd.DataFrame(list(rows), columns=list(SUMMARY_FIELDS))
    for col in ("started_utc", "ended_utc"):
        df[col] = pd.to_datetime(df[col], utc=True)
    df["duration_s"] = (df["ended_utc"] - df["started_utc"]).dt.total_seconds()
    return df


def measured(records: Iterable[RunRecord]) -> list[RunRecord]:
    """The ok runs: the only ones whose figures are measurements (an infeasible, failed, skipped, ... run
    holds none, even where it kept facts or raw samples)."""
    return [r for r in records if r.status is Status.ok]


def not_measured_note(records: Iterable[RunRecord]) -> str | None:
    """One line saying how many of ``records`` are not ok and that their figures are left out; None if all
    are ok."""
    records = list(records)
    counts = Counter(r.status.value for r in records if r.status is not Status.ok)
    if not counts:
        return None
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return (f"{sum(counts.values())} of {len(records)} runs are not ok ({parts}): listed with their reason, "
            "left out of metrics, comparisons and charts.")


def fact(record: RunRecord, key: str) -> Any:
    """``key`` from a record's config: the requested config first, then the kind's stored ``facts``
    and ``params`` (e.g. model, batch, seq_len); None when absent."""
    for scope in (record.config, record.config.get("facts"), record.config.get("params")):
        if isinstance(scope, Mapping) and scope.get(key) is not None:
            return scope[key]
    return None


def config_facet(record: RunRecord, key: str) -> str | None:
    """A filterable fact (backend, device, dtype) as text, or None."""
    value = fact(record, key)
    return None if value is None else str(value)


RUN_COLUMNS = (
    "run_id",
    "started_utc",
    "suite",
    "benchmark",
    "kind",
    *CONFIG_FACETS,
    "host_fingerprint",
    "status",
    "source",
    "headline",
)


def runs_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run: its summary fields, config facets and headline."""
    rows = [{**record_summary(r), **{k: config_facet(r, k) for k in CONFIG_FACETS}, "headline": headline(r)}
            for r in records]
    df = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    df["started_utc"] = pd.to_datetime(df["started_utc"], utc=True)
    return df


METRIC_COLUMNS = ("run_id", "started_utc", "benchmark", "backend", "metric", "value", "unit", "p50", "p90",
                  "p99", "cv", "noisy", "pct_of_peak", "peak_source")


def metrics_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per (run, metric) of the ok runs: value with its unit, percentiles, spread, noisy flag,
    % of peak."""
    rows = [
        {
            "run_id": r.run_id,
            "started_utc": r.started_utc,
            "benchmark": r.benchmark,
            "backend": config_facet(r, "backend"),
            "metric": m.name,
            "value": m.value,
            "unit": m.unit,
            "p50": m.stats.get("p50"),
            "p90": m.stats.get("p90"),
            "p99": m.stats.get("p99"),
            "cv": m.stats.get("cv"),
            "noisy": m.noisy,
            "pct_of_peak": m.pct_of_peak,
            "peak_source": m.peak_source,
        }
        for r in measured(records)
        for m in r.metrics
    ]
    df = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    df["started_utc"] = pd.to_datetime(df["started_utc"], utc=True)
    return df


def run_label(record: RunRecord) -> str:
    """Short human label of a run for pickers and legends."""
    backend = config_facet(record, "backend")
    parts = [record.benchmark, backend, record.started_utc.strftime("%Y-%m-%d %H:%M"), record.run_id[:8]]
    return " · ".join(p for p in parts if p)
