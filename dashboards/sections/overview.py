"""Overview: this host, what the store holds, and the state of the latest suite."""

from __future__ import annotations

import streamlit as st
from dash_common import change_token, host_inventory, load_run, load_summaries, open_store, plotly, store_url

from capplan.hardware.inventory import Inventory
from capplan.views.charts import status_bar_figure
from capplan.views.inventory import inventory_frame, recorded_inventory, software_frame
from capplan.views.runs import headline, latest_suite, quick_suite_command, store_summary
from capplan.views.text import md_escape


def render_overview_page(url: str) -> None:
    """Draw the Overview page for the store at ``url``."""
    store = open_store(url)
    st.title("Overview")
    st.caption(f"Store: {md_escape(store.display_url)}")
    df = load_summaries(url, change_token(url))
    summary = store_summary(df)

    cols = st.columns(5)
    cols[0].metric("Runs", f"{summary.runs:,}")
    cols[1].metric("Hosts", summary.hosts)
    cols[2].metric("Suites", summary.suites)
    cols[3].metric("Benchmarks", summary.benchmarks)
    cols[4].metric("Imported results", summary.imported)

    latest = latest_suite(df)
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
            runs = latest.runs.assign(result=[headline(load_run(url, i)) for i in latest.runs["run_id"]])
            left, right = st.columns([1, 3])
            with left:
                plotly(status_bar_figure(latest.status_counts))
            with right:
                st.dataframe(
                    runs[["benchmark", "status", "result", "duration_s", "started_utc", "kind"]],
                    hide_index=True,
                    column_config={
                        "started_utc": st.column_config.DatetimeColumn(
                            "started (UTC)", format="YYYY-MM-DD HH:mm:ss"
                        ),
                        "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
                    },
                )

    newest = latest.runs.loc[latest.runs["started_utc"].idxmax(), "run_id"] if latest is not None else None
    recorded = recorded_inventory(load_run(url, newest)) if newest is not None else None
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
    left.dataframe(inventory_frame(inv), hide_index=True)
    right.dataframe(software_frame(inv), hide_index=True)


render_overview_page(store_url())
