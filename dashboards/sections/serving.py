"""LLM serving: TTFT/TPOT/ITL percentiles of stored load points against offered rate or concurrency, the SLO
lines, and the goodput knee (the capacity figure the planner sizes LLM workloads by)."""

from __future__ import annotations

import streamlit as st
from dash_common import Page, load_kind_runs, page_preamble, plotly, table

from capplan.views.kinds import SERVE_KINDS
from capplan.views.serving import AXES, ServeSLO, goodput_figure, knees, percentile_figure, serving_frame


def render_serving_page(page: Page) -> None:
    """Draw the LLM serving page."""
    records = load_kind_runs(page, SERVE_KINDS)
    if not records:
        st.info(
            "No serving runs stored yet. Measure an endpoint with `capplan bench serve --endpoint "
            "http://HOST:PORT/v1 --model MODEL --rate 1,2,4,8`, or import a vLLM, guidellm or AIPerf "
            "result with `capplan bench import FILE`."
        )
        return
    side = st.sidebar
    side.header("SLOs")
    ttft = side.number_input("TTFT p99 (ms)", min_value=1.0, value=1000.0, step=50.0, key="serve_ttft")
    tpot = side.number_input("TPOT p99 (ms)", min_value=0.1, value=50.0, step=5.0, key="serve_tpot")
    attainment = side.slider("Requests that must meet both (%)", 50.0, 100.0, 99.0, 0.5, key="serve_att")
    axis = side.radio("Load axis", list(AXES), format_func=AXES.get, key="serve_axis")
    frame = serving_frame(records, ServeSLO(ttft_ms=ttft, tpot_ms=tpot, attainment_pct=attainment))
    series = sorted(frame["series"].unique())
    chosen = side.multiselect("Series", series, default=series[:6], key="serve_series")
    frame = frame[frame["series"].isin(chosen)]
    knee = knees(frame)
    cols = st.columns(3)
    cols[0].metric("Load points", len(frame))
    cols[1].metric("Series", frame["series"].nunique())
    best = f"{knee['goodput_rps'].max():.4g}" if len(knee) else "none"
    cols[2].metric("Best goodput within SLOs (req/s)", best)
    st.caption(
        "Percentiles are shown only where the sample supports them (p90 from 36 requests, p99 from 368); "
        "goodput counts requests meeting every SLO, errors as misses. Points without per-request samples "
        "(imports of aggregates) are judged by their reported p99s."
    )
    tabs = st.tabs(["TTFT", "TPOT", "ITL", "Goodput", "Points"])
    ttft_tab, tpot_tab, itl_tab, goodput_tab, points_tab = tabs
    with ttft_tab:
        plotly(percentile_figure(frame, "ttft", axis, ttft))
    with tpot_tab:
        plotly(percentile_figure(frame, "tpot", axis, tpot))
    with itl_tab:
        plotly(percentile_figure(frame, "itl", axis))
    with goodput_tab:
        plotly(goodput_figure(frame, axis))
        knee_columns = ["series", "load", "goodput_rps", "judged_by", "run_id"]
        table(knee[knee_columns], "No load point meets these SLOs.")
    with points_tab:
        table(frame)


render_serving_page(page_preamble("LLM serving"))
