"""Cached loads shared by the dashboard pages. Caches are keyed on the store URL plus a cheap change
token (the run count: records are immutable and only ever added), so new runs show up on rerun."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd
import streamlit as st

from capplan.errors import UserError
from capplan.hardware.inventory import Inventory, collect_inventory
from capplan.results.schema import RunRecord
from capplan.results.store import RunFilter, Store, default_store_url
from capplan.views.runs import summaries_frame
from capplan.views.text import md_escape

ALL = "(all)"


def store_url() -> str:
    """The store the dashboard reads: ``$CAPPLAN_STORE`` (set by ``capplan dashboard``) or the default."""
    return default_store_url()


@st.cache_resource(show_spinner=False)
def _open(url: str) -> Store:
    return Store(url)


def open_store(url: str) -> Store:
    """The store at ``url``; a bad store stops the page with its one-line error."""
    try:
        return _open(url)
    except UserError as exc:
        st.error(md_escape(exc))
        st.stop()
        raise  # st.stop() raises; this line only satisfies type checkers


def change_token(url: str) -> int:
    """Cheap token that changes when runs are added."""
    return open_store(url).count()


@st.cache_data(show_spinner="Reading the store…", max_entries=8)
def load_summaries(url: str, token: int) -> pd.DataFrame:
    """Summary rows of every run (no raw samples)."""
    return summaries_frame(open_store(url).summaries())


@st.cache_resource(show_spinner="Loading runs…", max_entries=16)
def load_records(url: str, token: int, suite: str | None, benchmark: str | None, host: str | None,
                 start: date | None, end: date | None, limit: int) -> list[RunRecord]:
    """Newest ``limit`` full records matching the filters (records are immutable, so shared, not copied)."""
    since = datetime.combine(start, time.min, tzinfo=UTC) if start else None
    until = datetime.combine(end, time.max, tzinfo=UTC) if end else None
    flt = RunFilter(suite=suite, benchmark=benchmark, host_fingerprint=host, since=since)
    out: list[RunRecord] = []
    for record in open_store(url).iter_records(flt):
        if until is None or record.started_utc <= until:
            out.append(record)
        if len(out) >= limit:
            break
    return out


@st.cache_resource(show_spinner=False, max_entries=256)
def load_run(url: str, run_id: str) -> RunRecord:
    """One full record (immutable, so cached by id alone)."""
    return open_store(url).get(run_id)


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


@st.cache_resource(show_spinner=False, max_entries=64)
def host_runs(url: str, token: int, host: str, kind: str, limit: int = 200) -> list[RunRecord]:
    """Newest ok runs of one kind on one host."""
    return open_store(url).query(RunFilter(kind=kind, host_fingerprint=host, status="ok", limit=limit))


@st.cache_resource(show_spinner="Loading runs…", max_entries=16)
def kind_runs(url: str, token: int, kinds: tuple[str, ...], limit: int = 2000) -> list[RunRecord]:
    """Newest ok runs of these kinds, any host (records are immutable, so shared, not copied)."""
    store = open_store(url)
    return [r for kind in kinds for r in store.query(RunFilter(kind=kind, status="ok", limit=limit))]


def table_or_note(df: pd.DataFrame, note: str, column_config: dict[str, Any] | None = None) -> None:
    """Draw ``df``, or the ``note`` (plain caption) when it has no rows."""
    if df.empty:
        st.caption(note)
    else:
        st.dataframe(df, hide_index=True, column_config=column_config)
