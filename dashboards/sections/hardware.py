"""Hardware: this host's measurements beside catalog accelerators, projections with bands, memory fit,
and cloud $ per unit of work."""

from __future__ import annotations

import streamlit as st
from dash_common import (
    Page,
    host_inventory,
    load_filter_choices,
    load_host_runs,
    page_preamble,
    plotly,
    table,
)
from dash_models import calibration_points, catalog, workload_inputs

from capplan.views.catalog import accelerator_names
from capplan.views.costs import PRICING_MODELS
from capplan.views.hardware import peaks_frame, unit_cost_frame
from capplan.views.hardware_charts import peaks_figure, projection_figure, unit_cost_figure
from capplan.views.kinds import COMPUTE_KINDS, MEMBW_KINDS
from capplan.views.projection import project_onto
from capplan.views.text import md_escape

DEFAULT_ACCELERATORS = (
    "NVIDIA H200 SXM",
    "NVIDIA H100 SXM",
    "NVIDIA A100 80GB SXM",
    "NVIDIA L40S",
    "NVIDIA L4",
    "AMD Instinct MI300X",
)
PEAK_KINDS = COMPUTE_KINDS | MEMBW_KINDS  # the runs whose best results make this host's catalog-like row


def render_hardware_page(page: Page) -> None:
    """Draw the Hardware page for the store of ``page``."""
    cat = catalog()
    side = st.sidebar
    side.header("Workload")
    desc = workload_inputs(side, "hw", page)
    dtype = desc.dtype if desc else "bf16"
    names = accelerator_names(cat)
    chosen = side.multiselect("Accelerators", names, default=[n for n in DEFAULT_ACCELERATORS if n in names],
                              key="hw_accelerators")
    pricing = side.selectbox("Cloud pricing", PRICING_MODELS, key="hw_pricing")

    st.subheader("This host beside the catalog")
    hosts = load_filter_choices(page, None).hosts
    here = host_inventory().fingerprint
    host = (
        st.selectbox(
            "Measured host",
            hosts,
            index=hosts.index(here) if here in hosts else 0,
            key="hw_host",
            help="fingerprint of the machine whose GEMM and memory-bandwidth runs are shown",
        )
        if hosts
        else None
    )
    runs = load_host_runs(page, host, PEAK_KINDS) if host else []
    frame = peaks_frame(cat, dtype, runs, f"host {(host or '')[:8]} (measured)")
    if host and not frame["measured"].any():
        st.caption(f"No ok gemm ({dtype}) or membw runs stored for host {md_escape(host)}.")
    plotly(peaks_figure(frame, dtype))
    table(frame.drop(columns="measured"),
          columns={"peak_tflops": st.column_config.NumberColumn(f"{dtype} peak (TFLOP/s)", format="%.1f")})

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
    proj = project_onto(desc, chosen, cat, calibration_points(page))
    for problem in proj.problems:
        st.warning(md_escape(problem))
    if not proj.projections:
        return
    plotly(projection_figure(proj.frame))
    table(proj.frame)

    st.subheader(f"Cloud $ per unit of work ({pricing})")
    costs = unit_cost_frame(proj.projections, cat, pricing)
    if costs.empty:
        st.info(f"No catalog instance with a {pricing} price for these accelerators.")
        return
    column, label = (("usd_per_1m_tokens", "$ per 1M tokens") if costs["usd_per_1m_tokens"].notna().any()
                     else ("usd_per_1k_inferences", "$ per 1k inferences"))
    plotly(unit_cost_figure(costs, column, label + " (cheapest instance, default cloud assumptions)"))
    table(costs)


render_hardware_page(page_preamble("Hardware"))
