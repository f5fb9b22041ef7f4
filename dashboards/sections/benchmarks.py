"""Benchmarks: filter stored runs, read results with units, compare runs, look at distributions."""

from __future__ import annotations

import streamlit as st
from dash_common import change_token, load_records, load_summaries, pick, plotly, store_url, table_or_note

from capplan.results.schema import RunRecord
from capplan.views.charts import distribution_figure, roofline_figure, sample_keys, throughput_latency_figure
from capplan.views.compare import comparison_frame
from capplan.views.diff import config_diff
from capplan.views.kinds import COMPUTE_KINDS
from capplan.views.roofline import roofline_points
from capplan.views.runs import config_facet, metrics_frame, not_measured_note, run_label, runs_frame
from capplan.views.sweeps import max_throughput_under_slo, slo_ms, throughput_latency_points
from capplan.views.text import md_escape

MAX_RUNS = 2000
METRIC_COLUMNS = {
    "started_utc": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm"),
    "value": st.column_config.NumberColumn("value", format="%.4g"),
    "p50": st.column_config.NumberColumn("p50", format="%.4g"),
    "p90": st.column_config.NumberColumn("p90", format="%.4g"),
    "p99": st.column_config.NumberColumn("p99", format="%.4g"),
    "cv": st.column_config.NumberColumn(
        "CV", format="%.3f", help="coefficient of variation of the raw samples"
    ),
    "pct_of_peak": st.column_config.NumberColumn("% of peak", format="%.1f"),
}


def render_benchmarks_page(url: str) -> None:
    """Draw the Benchmarks page for the store at ``url``."""
    st.title("Benchmarks")
    summaries = load_summaries(url, change_token(url))
    if summaries.empty:
        st.info("No runs stored yet; see the Overview page for the command that measures this machine.")
        return

    side = st.sidebar
    side.header("Filters")
    suite = pick("Suite", sorted(summaries["suite"].dropna().unique()), key="bench_suite")
    scoped = summaries if suite is None else summaries[summaries["suite"] == suite]
    benchmark = pick("Benchmark", sorted(scoped["benchmark"].unique()), key="bench_benchmark")
    host = pick("Host", sorted(summaries["host_fingerprint"].unique()), key="bench_host")
    first, last = summaries["started_utc"].min().date(), summaries["started_utc"].max().date()
    dates = side.date_input(
        "Started between (UTC)", (first, last), min_value=first, max_value=last, key="bench_dates"
    )
    start, end = (dates[0], dates[1]) if len(dates) == 2 else (dates[0], None)
    limit = side.number_input("Newest runs to load", 10, MAX_RUNS, 300, step=50, key="bench_limit")
    records = load_records(url, change_token(url), suite, benchmark, host, start, end, int(limit))

    backends = sorted({b for b in runs_frame(records)["backend"].dropna().unique()})
    chosen = side.multiselect("Backend", backends, default=backends, key="bench_backend") if backends else []
    records = [r for r in records if config_facet(r, "backend") in (None, *chosen)]
    if not records:
        st.warning("No runs match these filters.")
        return
    st.caption(f"{len(records):,} runs shown (newest first) of {len(summaries):,} stored.")
    if note := not_measured_note(records):
        st.caption(note)

    results, compare, dist, curves, roof = st.tabs(
        ["Results", "Compare two runs", "Latency distributions", "Throughput vs latency", "Roofline"])
    with results:
        st.dataframe(runs_frame(records), hide_index=True, column_config=METRIC_COLUMNS, height=260)
        st.dataframe(metrics_frame(records), hide_index=True, column_config=METRIC_COLUMNS)
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
            table_or_note(max_throughput_under_slo(points, slo), "No point meets this SLO.")
            with st.expander("All points"):
                st.dataframe(points, hide_index=True)
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
            st.dataframe(roofline.points, hide_index=True)


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
    table_or_note(config_diff(a, b), "Same benchmark configuration, host and software.")
    st.markdown("**Metrics (B / A)**")
    table_or_note(comparison_frame(group_a, group_b, by_benchmark=by_benchmark),
                  "The two sides share no metric with status ok.", {
                      "a_value": st.column_config.NumberColumn("A", format="%.4g"),
                      "b_value": st.column_config.NumberColumn("B", format="%.4g"),
                      "ratio": st.column_config.NumberColumn("B / A", format="%.3f"),
                      "p_value": st.column_config.NumberColumn("p (between runs)", format="%.3g"),
                  })


render_benchmarks_page(store_url())
