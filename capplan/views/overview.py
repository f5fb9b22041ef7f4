"""What the store holds and the state of the latest suite, from SQL aggregates (the Overview page
reads a few index scans and the latest suite's records, not every run)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from capplan.results.aggregates import (
    count_distinct,
    counts_by,
    newest_per_benchmark,
    newest_with_suite,
    started_range,
)
from capplan.results.schema import Source, Status
from capplan.results.store import RunFilter, Store
from capplan.results.summary import headline
from capplan.views.runs import summaries_frame

STATUS_ORDER = tuple(s.value for s in Status)
LATEST_SUITE_COLUMNS = ("benchmark", "status", "result", "duration_s", "started_utc", "kind", "run_id")


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


def store_summary(store: Store) -> StoreSummary:
    """Counts of runs, hosts, suites, benchmarks, imported runs and statuses, and the time span."""
    statuses = counts_by(store, "status")
    first, last = started_range(store)
    return StoreSummary(
        runs=sum(statuses.values()),
        hosts=count_distinct(store, "host_fingerprint"),
        suites=count_distinct(store, "suite"),
        benchmarks=count_distinct(store, "benchmark"),
        imported=counts_by(store, "source").get(Source.imported.value, 0),
        first_utc=first,
        last_utc=last,
        status_counts={s: statuses.get(s, 0) for s in STATUS_ORDER},
    )


@dataclass(frozen=True)
class LatestSuite:
    """The newest suite on one host: the latest run of each of its benchmarks, with its headline."""

    suite: str
    host_fingerprint: str
    last_utc: datetime
    newest_run_id: str
    runs: pd.DataFrame  # LATEST_SUITE_COLUMNS, by benchmark
    status_counts: dict[str, int]


def latest_suite(store: Store) -> LatestSuite | None:
    """State of the most recently run local suite: per benchmark its newest run on the same host.

    A suite re-run with ``--resume`` only adds what was missing, so "latest run per benchmark" is
    what the suite currently shows, not just the last invocation.
    """
    newest = newest_with_suite(store, RunFilter(source=Source.local.value))
    if newest is None:
        return None
    mine = RunFilter(
        suite=newest["suite"], host_fingerprint=newest["host_fingerprint"], source=Source.local.value
    )
    runs = summaries_frame(newest_per_benchmark(store, mine))
    runs["result"] = [headline(store.get(run_id)) for run_id in runs["run_id"]]
    counts = runs["status"].value_counts()
    return LatestSuite(
        suite=str(newest["suite"]),
        host_fingerprint=str(newest["host_fingerprint"]),
        last_utc=newest["started_utc"],
        newest_run_id=str(newest["run_id"]),
        runs=runs[list(LATEST_SUITE_COLUMNS)],
        status_counts={s: int(counts[s]) for s in STATUS_ORDER if counts.get(s, 0)},
    )


def quick_suite_command(store: Store) -> str:
    """The exact command that fills ``store`` with this machine's quick suite."""
    target = "\"$CAPPLAN_STORE\"" if store.display_url != store.url else shlex.quote(store.url)
    return f"capplan bench run --suite quick --store {target}"
