"""Tables of stored runs: store summary, latest suite status, per-run and per-metric frames."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from capplan.results.schema import RunRecord, Status
from capplan.results.store import Store

SUMMARY_COLUMNS = (
    "run_id", "benchmark", "kind", "suite", "status", "source", "host_fingerprint",
    "config_hash", "started_utc", "ended_utc",
)
# Facts the harness stores in ``config`` that readers filter and group by.
CONFIG_FACETS = ("backend", "device", "dtype")
STATUS_ORDER = tuple(s.value for s in Status)


def summaries_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Store summary rows (``Store.summaries()``) as a typed frame with ``duration_s``."""
    df = pd.DataFrame(list(rows), columns=list(SUMMARY_COLUMNS))
    for col in ("started_utc", "ended_utc"):
        df[col] = pd.to_datetime(df[col], utc=True)
    df["duration_s"] = (df["ended_utc"] - df["started_utc"]).dt.total_seconds()
    return df


@dataclass(frozen=True)
class StoreSummary:
    """Headline counts of a store."""

    runs: int
    hosts: int
    suites: int
    benchmarks: int
    imported: int
    first_utc: datetime | None
    last_utc: datetime | None
    status_counts: dict[str, int]


def store_summary(df: pd.DataFrame) -> StoreSummary:
    """Counts of runs, hosts, suites, benchmarks and statuses in a summaries frame."""
    counts = df["status"].value_counts()
    return StoreSummary(
        runs=len(df),
        hosts=df["host_fingerprint"].nunique(),
        suites=df["suite"].dropna().nunique(),
        benchmarks=df["benchmark"].nunique(),
        imported=int((df["source"] == "imported").sum()),
        first_utc=df["started_utc"].min() if len(df) else None,
        last_utc=df["started_utc"].max() if len(df) else None,
        status_counts={s: int(counts.get(s, 0)) for s in STATUS_ORDER},
    )


@dataclass(frozen=True)
class LatestSuite:
    """The newest suite on one host: the latest run of each of its benchmarks."""

    suite: str
    host_fingerprint: str
    last_utc: datetime
    runs: pd.DataFrame
    status_counts: dict[str, int]


def latest_suite(df: pd.DataFrame) -> LatestSuite | None:
    """State of the most recently run suite: per benchmark its newest run on the same host.

    A suite re-run with ``--resume`` only adds what was missing, so "latest run per benchmark" is
    what the suite currently shows, not just the last invocation.
    """
    local = df[df["suite"].notna() & (df["source"] == "local")]
    if local.empty:
        return None
    newest = local.loc[local["started_utc"].idxmax()]
    mine = local[
        (local["suite"] == newest["suite"]) & (local["host_fingerprint"] == newest["host_fingerprint"])
    ]
    runs = mine.sort_values("started_utc").groupby("benchmark", as_index=False).tail(1)
    runs = runs.sort_values("benchmark").reset_index(drop=True)
    counts = runs["status"].value_counts()
    return LatestSuite(
        suite=str(newest["suite"]),
        host_fingerprint=str(newest["host_fingerprint"]),
        last_utc=newest["started_utc"],
        runs=runs[["benchmark", "kind", "status", "started_utc", "duration_s", "run_id"]],
        status_counts={s: int(counts.get(s, 0)) for s in STATUS_ORDER if counts.get(s, 0)},
    )


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


def headline(record: RunRecord) -> str:
    """The first metric with its unit (and a noisy mark); for a run that is not ok, its error."""
    if not record.metrics or record.status is not Status.ok:
        return record.error or ""
    m = record.metrics[0]
    return f"{m.name} = {m.value:.4g} {m.unit}" + (" (noisy)" if m.noisy else "")


def runs_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run with its config facets and headline metric."""
    rows = []
    for r in records:
        rows.append({
            "run_id": r.run_id,
            "started_utc": r.started_utc,
            "suite": r.suite,
            "benchmark": r.benchmark,
            "kind": r.kind,
            **{k: config_facet(r, k) for k in CONFIG_FACETS},
            "host_fingerprint": r.host_fingerprint,
            "status": r.status.value,
            "source": r.source.value,
            "headline": headline(r),
        })
    df = pd.DataFrame(rows, columns=["run_id", "started_utc", "suite", "benchmark", "kind", *CONFIG_FACETS,
                                     "host_fingerprint", "status", "source", "headline"])
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


def quick_suite_command(store: Store) -> str:
    """The exact command that fills ``store`` with this machine's quick suite."""
    target = "\"$CAPPLAN_STORE\"" if store.display_url != store.url else shlex.quote(store.url)
    return f"capplan bench run --suite quick --store {target}"
