"""Benchmarks: filter stored runs, read results with units, compare runs, look at distributions.

Filter choices and the matching count come from SQL; only the page of runs shown is loaded in full."""

from __future__ import annotations

import streamlit as st
from dash_common import (
    Page,
    count_matching,
    load_filter_choices,
    load_runs_page,
    page_preamble,
    pick,
    plotly,
    table,
)

from capplan.views.charts import distribution_figure, roofline_figure, sample_keys, throughput_latency_figure
from capplan.views.compare import comparison_frame
from capplan.views.diff import config_diff
from capplan.views.kinds import COMPUTE_KINDS
from capplan.views.roofline import roofline_points
from capplan.views.run_query import RunQuery, page_count
from capplan.views.runs import config_facet, metrics_frame, not_measured_note, run_label, runs_frame
from capplan.views.store import RunRecord
from capplan.views.sweeps import max_throughput_under_slo, slo_ms, throughput_latency_points
from capplan.views.text import md_escape

MAX_PAGE_SIZE = 2000  # runs loaded in full at once (raw samples included)
DEFAULT_PAGE_SIZE = 300


def render_benchmarks_page(page: Page) -> None:
    """Draw the Benchmarks page for the store of ``page``."""
    if page.token == 0:
        st.info("No runs stored yet; see the Overview page for the command that measures this machine.")
        return

    side = st.sidebar
    side.header("Filters")
    suite = pick("Suite", load_filter_choices(page, None).suites, key="bench_suite")
    choices = load_filter_choices(page, suite)
    benchmark = pick("Benchmark", choices.benchmarks, key="bench_benchmark")
    host = pick("Host", choices.hosts, key="bench_host")
    first, last = choices.first_day, choices.last_day
    dates = side.date_input(
        "Started between (UTC)", (first, last), min_value=first, max_value=last, key="bench_dates"
    )
    start, end = (dates[0], dates[1]) if len(dates) == 2 else (dates[0], None)
    query = RunQuery(suite=suite, benchmark=benchmark, host_fingerprint=host, first_day=start, last_day=end)
    matching = count_matching(page, query)
    size = int(
        side.number_input(
            "Runs per page", 10, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, step=50, key="bench_page_size"
        )
    )
    pages = page_count(matching, size)
    number = 1
    if pages > 1:  # no upper bound on the widget: the page count changes with the filters; clamp instead
        number = min(int(side.number_input("Page (1 = newest)", min_value=1, value=1, key="bench_page",
                                           help=f"{pages:,} pages of {size:,} runs")), pages)
    records = load_runs_page(page, query, number, size)

    backends = sorted({b for b in runs_frame(records)["backend"].dropna().unique()})
    chosen = side.multiselect("Backend", backends, default=backends, key="bench_backend") if backends else []
    records = [r for r in records if config_facet(r, "backend") in (None, *chosen)]
    if not records:
        st.warning("No runs match these filters.")
        return
    lo, hi = (number - 1) * size + 1, min(number * size, matching)
    st.caption(f"{len(records):,} runs shown (newest first: {lo:,}–{hi:,} of {matching:,} matching, "
               f"{page.token:,} stored).")
    if note := not_measured_note(records):
        st.caption(note)

    results, compare, dist, curves, roof = st.tabs(
        ["Results", "Compare two runs", "Latency distributions", "Throughput vs latency", "Roofline"])
    with results:
        table(runs_frame(records), height=260)
        table(metrics_frame(records))
    with compare:
        _render_compare(records)
    with dist:
        keys = sample_keys(records)
        if keys:
            key = st.selectbox("Raw samples", keys, key="bench_sample_key")
            shown = [r for r in records if r.samples.get(key)][:12]
            st.caption(
                f"Box = quartiles, dashed line = mean, points = outliers; newest {len(shown)} runs with "
                f"{md_escape(key)}."
            )
            plotly(distribution_figure(shown, key))
        else:
            st.info("None of these runs stored raw samples.")
    with curves:
        slo = st.number_input("p99 latency SLO (ms)", 1.0, 60_000.0, slo_ms(records), key="bench_slo_ms")
        points = throughput_latency_points(records)
        if points.empty:
            st.info("No inference runs with both a throughput and a p99 latency among these runs.")
        else:
            plotly(throughput_latency_figure(points, slo))
            st.markdown("**Highest throughput within the SLO**")
            table(max_throughput_under_slo(points, slo), "No point meets this SLO.")
            with st.expander("All points"):
                table(points)
    with roof:
        hosts = sorted({r.host_fingerprint for r in records if r.kind in COMPUTE_KINDS})
        roof_host = (
            st.selectbox("Host (one machine per roofline)", hosts, key="bench_roof_host") if hosts else None
        )
        roofline = roofline_points([r for r in records if r.host_fingerprint == roof_host])
        if roofline.points.empty:
            st.info("No GEMM runs among these runs; the roofline plots GEMM points under measured ceilings.")
        else:
            st.caption(md_escape(roofline.ceiling_note))
            plotly(roofline_figure(roofline))
            table(roofline.points)


def _render_compare(records: list[RunRecord]) -> None:
    mode = st.radio("Compare", ("two runs", "two hosts"), horizontal=True, key="bench_compare_mode")
    if mode == "two runs":
        labels = {run_label(r): r for r in records}
        options = list(labels)
        if len(options) < 2:
            st.info("Select at least two runs with the filters to compare them.")
            return
        left, right = st.columns(2)
        a = labels[left.selectbox("Run A (baseline)", options, index=1, key="bench_run_a")]
        b = labels[right.selectbox("Run B", options, index=0, key="bench_run_b")]
        group_a, group_b, by_benchmark = [a], [b], a.benchmark == b.benchmark
    else:
        hosts = sorted({r.host_fingerprint for r in records})
        if len(hosts) < 2:
            st.info("These runs come from one host; widen the filters to compare hosts.")
            return
        left, right = st.columns(2)
        host_a = left.selectbox("Host A (baseline)", hosts, index=0, key="bench_host_a")
        host_b = right.selectbox("Host B", hosts, index=1, key="bench_host_b")
        group_a = [r for r in records if r.host_fingerprint == host_a]
        group_b = [r for r in records if r.host_fingerprint == host_b]
        a, b, by_benchmark = group_a[0], group_b[0], True
        st.caption(f"All shown runs per host pooled per benchmark: {len(group_a)} vs {len(group_b)} runs.")
    st.markdown("**What differs**" + (" (newest run of each host)" if mode == "two hosts" else ""))
    table(config_diff(a, b), "Same benchmark configuration, host and software.")
    st.markdown("**Metrics (B / A)**")
    table(
        comparison_frame(group_a, group_b, by_benchmark=by_benchmark),
        "The two sides share no metric with status ok.",
        columns={
            "a_value": st.column_config.NumberColumn("A", format="%.4g"),
            "b_value": st.column_config.NumberColumn("B", format="%.4g"),
            "ratio": st.column_config.NumberColumn("B / A", format="%.3f"),
            "p_value": st.column_config.NumberColumn("p (between runs)", format="%.3g"),
        },
    )


render_benchmarks_page(page_preamble("Benchmarks"))
