"""The Benchmarks page's run selection: filter choices from SQL DISTINCT/MIN/MAX, a count of the
matching runs, and one page of them (newest first, LIMIT/OFFSET), so a page loads only what it shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from capplan.results.aggregates import distinct_values, started_range
from capplan.results.schema import RunRecord
from capplan.results.store import RunFilter, Store


@dataclass(frozen=True)
class RunQuery:
    """Which runs to list; None means any. ``first_day`` and ``last_day`` are UTC dates, both included."""

    suite: str | None = None
    benchmark: str | None = None
    host_fingerprint: str | None = None
    first_day: date | None = None
    last_day: date | None = None

    def run_filter(self, *, limit: int | None = None, offset: int | None = None) -> RunFilter:
        """The store filter of this query."""
        return RunFilter(
            suite=self.suite, benchmark=self.benchmark, host_fingerprint=self.host_fingerprint,
            since=datetime.combine(self.first_day, time.min, tzinfo=UTC) if self.first_day else None,
            until=datetime.combine(self.last_day, time.max, tzinfo=UTC) if self.last_day else None,
            limit=limit, offset=offset,
        )


@dataclass(frozen=True)
class FilterChoices:
    """What the filter widgets offer: suites, the benchmarks of the chosen suite (all when None), hosts,
    and the first and last day with runs (None in an empty store)."""

    suites: list[str]
    benchmarks: list[str]
    hosts: list[str]
    first_day: date | None
    last_day: date | None


def filter_choices(store: Store, suite: str | None = None) -> FilterChoices:
    """The filter choices of the store; benchmarks are those of ``suite`` when one is chosen."""
    first, last = started_range(store)
    return FilterChoices(
        suites=distinct_values(store, "suite"),
        benchmarks=distinct_values(store, "benchmark", RunFilter(suite=suite)),
        hosts=distinct_values(store, "host_fingerprint"),
        first_day=first.date() if first else None,
        last_day=last.date() if last else None,
    )


def count_runs(store: Store, query: RunQuery) -> int:
    """How many runs match ``query``."""
    return store.count(query.run_filter())


def page_count(matching: int, page_size: int) -> int:
    """Pages of ``page_size`` runs needed for ``matching`` runs (at least one, an empty page)."""
    if page_size < 1:
        raise ValueError(f"page_size: {page_size}; must be at least 1")
    return max(1, -(-matching // page_size))


def runs_page(store: Store, query: RunQuery, page: int, page_size: int) -> list[RunRecord]:
    """Page ``page`` (1 = newest) of the runs matching ``query``, newest first, ``page_size`` per page."""
    if page < 1 or page_size < 1:
        raise ValueError(f"page {page}, page_size {page_size}: both must be at least 1")
    return store.query(query.run_filter(limit=page_size, offset=(page - 1) * page_size))
