"""What every dashboard page shares: the page preamble (title, store, change token), cached store reads,
column presets and small drawing helpers. Pages import only ``capplan.views`` and streamlit.

Caches are keyed on the store URL plus a cheap change token (the run count: records are immutable and
only ever added), so new runs show up on rerun."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from capplan.views.errors import UserError
from capplan.views.inventory import Inventory, collect_inventory
from capplan.views.overview import LatestSuite, StoreSummary, latest_suite, store_summary
from capplan.views.run_query import FilterChoices, RunQuery, count_runs, filter_choices, runs_page
from capplan.views.store import (
    RunRecord,
    Store,
    change_token,
    host_runs,
    kind_runs,
    open_store,
    run,
    store_url,
)
from capplan.views.text import md_escape

ALL = "(all)"

# Column presets: one display definition per common column; ``table`` applies those a frame has.
COLUMNS: dict[str, Any] = {
    "run_id": st.column_config.TextColumn(
        "run id", help="unique id of the run (a unique prefix works in the CLI)"
    ),
    "started_utc": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
    "host_fingerprint": st.column_config.TextColumn("host", help="fingerprint of the machine that ran it"),
    "value": st.column_config.NumberColumn("value", format="%.4g"),
    "p50": st.column_config.NumberColumn("p50", format="%.4g"),
    "p90": st.column_config.NumberColumn("p90", format="%.4g"),
    "p99": st.column_config.NumberColumn("p99", format="%.4g"),
    "cv": st.column_config.NumberColumn(
        "CV", format="%.3f", help="coefficient of variation of the raw samples"
    ),
    "pct_of_peak": st.column_config.NumberColumn("% of peak", format="%.1f"),
    "throughput_per_s": st.column_config.NumberColumn("throughput/s", format="%.4g"),
    "band_low": st.column_config.NumberColumn("band low", format="%.4g"),
    "band_high": st.column_config.NumberColumn("band high", format="%.4g"),
    "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.3g"),
    "memory_required_gib": st.column_config.NumberColumn("memory needed (GiB)", format="%.1f"),
    "device_memory_gib": st.column_config.NumberColumn("device memory (GiB)", format="%.0f"),
    "mem_bw_gbps": st.column_config.NumberColumn("memory bw (GB/s)", format="%.0f"),
    "share": st.column_config.NumberColumn("share", format="%.2f"),
    "usd_per_gpu_hour": st.column_config.NumberColumn("$/GPU-hour", format="%.3f"),
    "usd_per_1m_tokens": st.column_config.NumberColumn("$/1M tokens", format="%.4f"),
    "usd_per_1k_inferences": st.column_config.NumberColumn("$/1k inferences", format="%.5f"),
    "upfront_usd": st.column_config.NumberColumn("upfront (USD)", format="%,.0f"),
    "cost_in_horizon_usd": st.column_config.NumberColumn("cost in horizon (USD)", format="%,.0f"),
    "cost_usd": st.column_config.NumberColumn("cost (USD)", format="%,.0f"),
}


@dataclass(frozen=True)
class Page:
    """The store a page reads and its change token (cache key part)."""

    url: str
    token: int


def page_preamble(title: str) -> Page:
    """Title the page and open its store; a bad store stops the page with its one-line error."""
    st.title(title)
    url = store_url()
    return Page(url, change_token(cached_store(url)))


@st.cache_resource(show_spinner=False)
def _open(url: str) -> Store:
    return open_store(url)


def cached_store(url: str) -> Store:
    """The store at ``url``, opened once per process; a bad store stops the page with its one-line error."""
    try:
        return _open(url)
    except UserError as exc:
        st.error(md_escape(exc))
        st.stop()
        raise  # st.stop() raises; this line only satisfies type checkers


@st.cache_resource(show_spinner=False, max_entries=256)
def load_run(url: str, run_id: str) -> RunRecord:
    """One full record (immutable, so cached by store and id alone, and shared, not copied)."""
    return run(cached_store(url), run_id)


@st.cache_resource(show_spinner=False, max_entries=64)
def load_host_runs(page: Page, host: str, kinds: frozenset[str]) -> list[RunRecord]:
    """Newest ok runs of ``kinds`` on one host."""
    return host_runs(cached_store(page.url), host, kinds)


@st.cache_resource(show_spinner="Loading runs…", max_entries=16)
def load_kind_runs(page: Page, kinds: frozenset[str]) -> list[RunRecord]:
    """Newest ok runs of ``kinds`` on any host (shared, not copied)."""
    return kind_runs(cached_store(page.url), kinds)


@st.cache_data(show_spinner="Reading the store…", max_entries=8)
def load_overview(page: Page) -> tuple[StoreSummary, LatestSuite | None]:
    """What the store holds and the latest suite's state (SQL aggregates, not every run)."""
    store = cached_store(page.url)
    return store_summary(store), latest_suite(store)


@st.cache_data(show_spinner=False, max_entries=32)
def load_filter_choices(page: Page, suite: str | None) -> FilterChoices:
    """Suites, benchmarks (of ``suite`` when given), hosts and the day range, for the filter widgets."""
    return filter_choices(cached_store(page.url), suite)


@st.cache_data(show_spinner=False, max_entries=64)
def count_matching(page: Page, query: RunQuery) -> int:
    """How many stored runs match ``query``."""
    return count_runs(cached_store(page.url), query)


@st.cache_resource(show_spinner="Loading runs…", max_entries=16)
def load_runs_page(page: Page, query: RunQuery, number: int, size: int) -> list[RunRecord]:
    """Page ``number`` (1 = newest) of ``size`` full records matching ``query`` (shared, not copied)."""
    return runs_page(cached_store(page.url), query, number, size)


@st.cache_resource(show_spinner="Reading this host's inventory…")
def host_inventory() -> Inventory:
    """Inventory of the machine serving the dashboard (hardware does not change while it runs)."""
    return collect_inventory()


def pick(label: str, options: list[Any], *, key: str, container: Any = st.sidebar) -> Any:
    """Select one of ``options`` or (all); returns None for (all)."""
    choice = container.selectbox(label, [ALL, *options], key=key)
    return None if choice == ALL else choice


def plotly(fig: Any) -> None:
    """Draw a plotly figure at full width."""
    st.plotly_chart(fig, width="stretch")


def table(df: Any, note: str | None = None, *, columns: dict[str, Any] | None = None, container: Any = st,
          height: int | None = None) -> None:
    """Draw a frame (or list of rows) with the presets of the columns it has, plus ``columns`` (extra or
    overriding configs by name); with ``note``, that caption instead of an empty table."""
    if note is not None and len(df) == 0:
        container.caption(note)
        return
    names = set(getattr(df, "columns", ()))
    config = {name: cfg for name, cfg in COLUMNS.items() if name in names} | (columns or {})
    container.dataframe(df, hide_index=True, column_config=config, **({"height": height} if height else {}))
