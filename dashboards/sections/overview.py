"""Overview: this host, what the store holds, and the state of the latest suite."""

from __future__ import annotations

import streamlit as st
from dash_common import (
    Page,
    cached_store,
    host_inventory,
    load_overview,
    load_run,
    page_preamble,
    plotly,
    table,
)

from capplan.views.charts import status_bar_figure
from capplan.views.inventory import Inventory, inventory_frame, recorded_inventory, software_frame
from capplan.views.overview import quick_suite_command
from capplan.views.text import md_escape


def render_overview_page(page: Page) -> None:
    """Draw the Overview page for the store of ``page``."""
    store = cached_store(page.url)
    st.caption(f"Store: {md_escape(store.display_url)}")
    summary, latest = load_overview(page)

    cols = st.columns(5)
    cols[0].metric("Runs", f"{summary.runs:,}")
    cols[1].metric("Hosts", summary.hosts)
    cols[2].metric("Suites", summary.suites)
    cols[3].metric("Benchmarks", summary.benchmarks)
    cols[4].metric("Imported results", summary.imported)

    if summary.runs == 0:
        st.info("The store is empty. Measure this machine with the quick suite (about a minute on 2 cores), "
                "then reload this page:")
        st.code(quick_suite_command(store), language="bash")
    else:
        st.caption(f"Runs from {summary.first_utc:%Y-%m-%d %H:%M} to {summary.last_utc:%Y-%m-%d %H:%M} UTC; "
                   + ", ".join(f"{n:,} {s}" for s, n in summary.status_counts.items() if n))
        if latest is not None:
            st.subheader(f"Latest suite: {md_escape(latest.suite)}")
            st.caption(
                f"Host {md_escape(latest.host_fingerprint)}, newest run {latest.last_utc:%Y-%m-%d %H:%M:%S} "
                f"UTC; "
                "the latest run of each benchmark."
            )
            status_cols = st.columns(max(len(latest.status_counts), 1))
            for col, (status, n) in zip(status_cols, latest.status_counts.items(), strict=False):
                col.metric(status, n)
            left, right = st.columns([1, 3])
            with left:
                plotly(status_bar_figure(latest.status_counts))
            table(latest.runs.drop(columns="run_id"), container=right)

    recorded = recorded_inventory(load_run(page.url, latest.newest_run_id)) if latest is not None else None
    if recorded is not None:
        st.subheader("Host of the latest suite")
        st.caption("Inventory recorded with its newest run.")
        _draw_inventory(recorded)
        if not st.toggle("Also show the machine serving this dashboard (live)", key="overview_live"):
            return
    st.subheader("This machine")
    _draw_inventory(host_inventory())


def _draw_inventory(inv: Inventory) -> None:
    left, right = st.columns(2)
    table(inventory_frame(inv), container=left)
    table(software_frame(inv), container=right)


render_overview_page(page_preamble("Overview"))
