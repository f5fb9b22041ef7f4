"""Hardware: this host's measurements beside catalog accelerators, projections with bands, memory fit,
and cloud $ per unit of work."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from dash_common import change_token, host_inventory, host_runs, load_summaries, plotly, store_url
from dash_models import calibration_points, catalog, workload_inputs

from capplan.costs import CloudAssumptions
from capplan.errors import UserError
from capplan.perfmodel import project
from capplan.views.costs import PRICING_MODELS
from capplan.views.hardware import catalog_frame, local_row, projection_frame, unit_cost_frame
from capplan.views.hardware_charts import peaks_figure, projection_figure, unit_cost_figure
from capplan.views.kinds import COMPUTE_KINDS, MEMBW_KINDS
from capplan.views.text import md_escape

DEFAULT_ACCELERATORS = (
    "NVIDIA H200 SXM",
    "NVIDIA H100 SXM",
    "NVIDIA A100 80GB SXM",
    "NVIDIA L40S",
    "NVIDIA L4",
    "AMD Instinct MI300X",
)


def render_hardware_page(url: str) -> None:
    """Draw the Hardware page for the store at ``url``."""
    st.title("Hardware")
    cat = catalog()
    token = change_token(url)
    side = st.sidebar
    side.header("Workload")
    desc = workload_inputs(side, "hw", url)
    dtype = desc.dtype if desc else "bf16"
    names = [a.name for a in cat.accelerators]
    chosen = side.multiselect("Accelerators", names, default=[n for n in DEFAULT_ACCELERATORS if n in names],
                              key="hw_accelerators")
    pricing = side.selectbox("Cloud pricing", PRICING_MODELS, key="hw_pricing")

    st.subheader("This host beside the catalog")
    frame = catalog_frame(cat, dtype)
    summaries = load_summaries(url, token)
    hosts = sorted(summaries["host_fingerprint"].unique())
    here = host_inventory().fingerprint
    if hosts:
        host = st.selectbox(
            "Measured host",
            hosts,
            index=hosts.index(here) if here in hosts else 0,
            key="hw_host",
            help="fingerprint of the machine whose GEMM and memory-bandwidth runs are shown",
        )
        runs = [r for kind in (*COMPUTE_KINDS, *MEMBW_KINDS) for r in host_runs(url, token, host, kind)]
        local = local_row(runs, dtype, f"host {host[:8]} (measured)")
        if local:
            frame = pd.concat([pd.DataFrame([local]), frame], ignore_index=True)
        else:
            st.caption(f"No ok gemm ({dtype}) or membw runs stored for host {md_escape(host)}.")
    plotly(peaks_figure(frame, dtype))
    st.dataframe(frame.drop(columns="measured"), hide_index=True, column_config={
        "peak_tflops": st.column_config.NumberColumn(f"{dtype} peak (TFLOP/s)", format="%.1f"),
        "mem_bw_gbps": st.column_config.NumberColumn("memory bw (GB/s)", format="%.0f"),
    })

    if desc is None:
        return
    st.subheader(f"Projection: {md_escape(desc.name)} ({desc.task}, {dtype}, batch {desc.batch})")
    if not chosen:
        st.info("Pick accelerators in the sidebar.")
        return
    st.caption(
        f"Workload figures: {md_escape(desc.source)}. Calibration: stored model runs plus shipped published "
        f"results."
    )
    points = calibration_points(url, token)
    projections, problems = [], []
    for name in chosen:
        try:
            projections.append(project(desc, name, catalog=cat, points=points))
        except UserError as exc:
            problems.append(f"{name}: {exc}")
    for problem in problems:
        st.warning(md_escape(problem))
    if not projections:
        return
    proj = projection_frame(projections)
    plotly(projection_figure(proj))
    st.dataframe(proj, hide_index=True, column_config={
        "throughput_per_s": st.column_config.NumberColumn("throughput/s", format="%.4g"),
        "band_low": st.column_config.NumberColumn("band low", format="%.4g"),
        "band_high": st.column_config.NumberColumn("band high", format="%.4g"),
        "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.3g"),
        "memory_required_gib": st.column_config.NumberColumn("memory needed (GiB)", format="%.1f"),
        "device_memory_gib": st.column_config.NumberColumn("device memory (GiB)", format="%.0f"),
    })

    st.subheader(f"Cloud $ per unit of work ({pricing})")
    costs = unit_cost_frame(projections, cat, pricing, CloudAssumptions())
    if costs.empty:
        st.info(f"No catalog instance with a {pricing} price for these accelerators.")
        return
    column, label = (("usd_per_1m_tokens", "$ per 1M tokens") if costs["usd_per_1m_tokens"].notna().any()
                     else ("usd_per_1k_inferences", "$ per 1k inferences"))
    plotly(unit_cost_figure(costs, column, label + " (cheapest instance, default cloud assumptions)"))
    st.dataframe(costs, hide_index=True, column_config={
        "usd_per_gpu_hour": st.column_config.NumberColumn("$/GPU-hour", format="%.3f"),
        "usd_per_1m_tokens": st.column_config.NumberColumn("$/1M tokens", format="%.4f"),
        "usd_per_1k_inferences": st.column_config.NumberColumn("$/1k inferences", format="%.5f"),
    })


render_hardware_page(store_url())
