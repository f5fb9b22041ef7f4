"""SQL aggregates and paging of the store agree with the same computations in Python over the records,
on SQLite and PostgreSQL (``store_url`` runs each test on both)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from capplan.results.aggregates import (
    GROUP_FIELDS,
    count_distinct,
    counts_by,
    distinct_values,
    newest_per_benchmark,
    newest_with_suite,
    started_range,
)
from capplan.results.schema import Metric, RunRecord, Source, Status
from capplan.results.store import RunFilter, Store
from capplan.results.summary import record_summary
from capplan.views.overview import latest_suite, store_summary
from capplan.views.run_query import RunQuery, count_runs, filter_choices, page_count, runs_page

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def varied_records(n: int, seed: int = 7) -> list[RunRecord]:
    """Runs over several hosts, suites (and none), kinds, statuses and sources; some start at the same
    instant, so ordering ties are exercised."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        status = rng.choice([Status.ok] * 4 + [Status.failed, Status.timeout, Status.skipped])
        when = T0 + timedelta(minutes=rng.randrange(0, 4 * 24 * 60, 7))  # a few days, with collisions
        out.append(
            RunRecord(
                benchmark=rng.choice(["gemm", "membw", "bert", "resnet"]),
                kind=rng.choice(["gemm", "membw", "infer"]),
                suite=rng.choice(["quick", "standard", None]),
                host_fingerprint=rng.choice(["h1", "h2", "h3"]),
                source=rng.choice([Source.local] * 3 + [Source.imported]),
                status=status,
                error=None if status is Status.ok else "boom",
                started_utc=when,
                ended_utc=when + timedelta(seconds=2),
                metrics=[Metric(name="x", value=float(i + 1), unit="1/s")] if status is Status.ok else [],
            )
        )
    return out


@pytest.fixture
def filled(store_url: str) -> tuple[Store, list[RunRecord]]:
    store = Store(store_url)
    records = varied_records(160)
    store.add_many(records)
    return store, records


def _newest_first(records: list[RunRecord]) -> list[RunRecord]:
    return sorted(sorted(records, key=lambda r: r.run_id), key=lambda r: r.started_utc, reverse=True)


def _value(r: RunRecord, field: str) -> str | None:
    return record_summary(r)[field]


@pytest.mark.parametrize(
    "flt", [None, RunFilter(status="ok"), RunFilter(suite="quick", host_fingerprint="h2")]
)
def test_sql_aggregates_equal_python_over_the_records(filled, flt):
    store, records = filled
    chosen = [r for r in records if flt is None or (
        all(getattr(flt, k) in (None, _value(r, k)) for k in ("status", "suite", "host_fingerprint")))]
    assert chosen and len(chosen) < len(records) or flt is None
    for field in GROUP_FIELDS:
        values = [_value(r, field) for r in chosen]
        assert counts_by(store, field, flt) == dict(Counter(values)), field
        assert distinct_values(store, field, flt) == sorted({v for v in values if v is not None}), field
        assert count_distinct(store, field, flt) == len({v for v in values if v is not None}), field
    starts = [r.started_utc for r in chosen]
    assert started_range(store, flt) == (min(starts), max(starts))


def test_newest_runs_equal_python_over_the_records(filled):
    store, records = filled
    local = RunFilter(source="local")
    with_suite = [r for r in _newest_first(records) if r.suite is not None and r.source is Source.local]
    assert newest_with_suite(store, local) == record_summary(with_suite[0])
    mine = RunFilter(suite="standard", host_fingerprint="h1", source="local")
    runs = [r for r in _newest_first(records)
            if (r.suite, r.host_fingerprint, r.source) == ("standard", "h1", Source.local)]
    expected = {}
    for r in runs:  # newest first, so the first seen per benchmark is its newest (ties: smallest run id)
        expected.setdefault(r.benchmark, record_summary(r))
    assert newest_per_benchmark(store, mine) == [expected[b] for b in sorted(expected)]


def test_store_summary_and_latest_suite_equal_python_over_the_records(filled):
    store, records = filled
    s = store_summary(store)
    assert s.runs == len(records)
    assert (s.hosts, s.benchmarks) == (
        len({r.host_fingerprint for r in records}),
        len({r.benchmark for r in records}),
    )
    assert s.suites == len({r.suite for r in records if r.suite})
    assert s.imported == sum(r.source is Source.imported for r in records)
    assert s.status_counts == {st.value: sum(r.status is st for r in records) for st in Status}
    assert (s.first_utc, s.last_utc) == (
        min(r.started_utc for r in records),
        max(r.started_utc for r in records),
    )
    newest = next(r for r in _newest_first(records) if r.suite and r.source is Source.local)
    latest = latest_suite(store)
    assert latest is not None and latest.newest_run_id == newest.run_id
    assert (latest.suite, latest.host_fingerprint) == (newest.suite, newest.host_fingerprint)


def test_filter_choices_equal_python_over_the_records(filled):
    store, records = filled
    choices = filter_choices(store, "quick")
    assert choices.suites == sorted({r.suite for r in records if r.suite})
    assert choices.benchmarks == sorted({r.benchmark for r in records if r.suite == "quick"})
    assert choices.hosts == sorted({r.host_fingerprint for r in records})
    assert (choices.first_day, choices.last_day) == (min(r.started_utc for r in records).date(),
                                                     max(r.started_utc for r in records).date())


@pytest.mark.parametrize("query", [RunQuery(), RunQuery(host_fingerprint="h3", first_day=date(2026, 5, 2),
                                                        last_day=date(2026, 5, 3))])
def test_pages_are_disjoint_cover_every_match_and_run_newest_first(filled, query):
    store, records = filled
    first = datetime.combine(query.first_day or date.min, datetime.min.time(), tzinfo=UTC)
    last = datetime.combine(query.last_day or date.max, datetime.max.time(), tzinfo=UTC)
    matching = [r for r in _newest_first(records) if query.host_fingerprint in (None, r.host_fingerprint)
                and first <= r.started_utc <= last]
    assert 0 < len(matching) and count_runs(store, query) == len(matching)
    size = 17  # no divisor of the counts: the last page is partial
    pages = [runs_page(store, query, n, size) for n in range(1, page_count(len(matching), size) + 1)]
    ids = [r.run_id for page in pages for r in page]
    assert len(ids) == len(set(ids))  # disjoint
    assert ids == [r.run_id for r in matching]  # every match, newest first (ties by run id)
    assert all(len(p) == size for p in pages[:-1]) and 0 < len(pages[-1]) <= size
    assert runs_page(store, query, len(pages) + 1, size) == []


def test_page_count_and_bad_pages():
    assert [page_count(n, 10) for n in (0, 1, 10, 11)] == [1, 1, 1, 2]
    with pytest.raises(ValueError, match="page_size"):
        page_count(5, 0)
    with pytest.raises(ValueError, match="at least 1"):
        runs_page(None, RunQuery(), 0, 10)  # type: ignore[arg-type]


def test_grouping_by_an_unknown_field_is_refused(store_url):
    with pytest.raises(ValueError, match="allowed: benchmark"):
        counts_by(Store(store_url), "record_json")
