"""Costs: cloud vs on-prem for one accelerator and workload, every assumption editable in the sidebar."""

from __future__ import annotations

import streamlit as st
from dash_common import Page, page_preamble, plotly, table
from dash_models import assumption_inputs, calibration_points, catalog, workload_inputs

from capplan.views.catalog import Accelerator, costable_accelerators
from capplan.views.cost_charts import cumulative_figure, tornado_figure
from capplan.views.costs import (
    BILLING_MODE_TEXT,
    BILLING_MODES,
    PRICING_MODELS,
    CarbonAssumptions,
    CloudAssumptions,
    CostResult,
    CostScenario,
    OnPremAssumptions,
    carbon_frame,
    cumulative_frame,
    evaluate,
    instance_label,
    purchase_price_default,
    stale_price_warnings,
    tornado_frame,
)
from capplan.views.errors import UserError
from capplan.views.projection import work_unit_costs_on
from capplan.views.text import md_escape, usd
from capplan.views.workloads import WorkloadDesc

DEFAULT_ACCELERATOR = "NVIDIA A100 80GB SXM"  # has a cited purchase price and cloud instances in the catalog


def render_costs_page(page: Page) -> None:
    """Draw the Costs page; the store only supplies calibration points for the throughput projection."""
    cat = catalog()
    side = st.sidebar
    side.header("Hardware")
    usable = costable_accelerators(cat)
    names = [a.name for a in usable]
    acc = usable[side.selectbox("Accelerator", range(len(names)), format_func=names.__getitem__,
                                index=names.index(DEFAULT_ACCELERATOR) if DEFAULT_ACCELERATOR in names else 0,
                                key="cost_accelerator")]
    gpus = int(side.number_input("GPUs needed", 1, 100_000, 8, key="cost_gpus"))
    per_server = int(side.number_input("GPUs per server", 1, 64, 8, key="cost_gpus_per_server"))
    cited, cited_help = purchase_price_default(cat, acc)
    gpu_price = side.number_input(
        "GPU purchase price (USD)", min_value=1.0, value=cited, key=f"cost_gpu_price_{acc.name}",
        help=cited_help,
    )
    instances = cat.instances_for(acc.name)
    inst = instances[side.selectbox(
        "Cloud instance", range(len(instances)), key=f"cost_instance_{acc.name}",
        format_func=lambda i: instance_label(instances[i]))]
    pricing = side.selectbox("Cloud pricing", PRICING_MODELS, key="cost_pricing")
    billing = side.selectbox("Cloud billing", BILLING_MODES, key="cost_billing", format_func=lambda m: m,
                             help="; ".join(f"{m}: {t}" for m, t in BILLING_MODE_TEXT.items()))
    months = int(side.slider("Horizon (months)", 12, 120, 60, step=6, key="cost_months"))
    with side.expander("Workload (for $ per unit of work)"):
        desc = workload_inputs(st, "cost", page)
    with side.expander("On-prem assumptions", expanded=True):
        onprem = assumption_inputs(OnPremAssumptions, "cost_onprem", st)
    with side.expander("Cloud assumptions"):
        cloud = assumption_inputs(CloudAssumptions, "cost_cloud", st)
    with side.expander("Carbon assumptions"):
        carbon = assumption_inputs(CarbonAssumptions, "cost_carbon", st)

    if gpu_price is None:
        st.info(
            f"The catalog has no cited purchase price for {md_escape(acc.name)}: enter a quote in the "
            f"sidebar "
            "(GPU purchase price) to cost the on-prem option."
        )
        return
    price_source = f"catalog: {cited_help}" if gpu_price == cited else "entered in the dashboard"
    scenario = CostScenario(acc, gpus, per_server, float(gpu_price), price_source, inst, pricing, months,
                            onprem, cloud, billing, carbon, cat)
    result = evaluate(scenario)
    if result is None:
        st.warning(
            f"{md_escape(inst.provider)} {md_escape(inst.instance)} has no {pricing} price in the catalog "
            f"(and none may be derived "
            "under the cloud assumptions); pick another pricing model or instance."
        )
        return

    c = result.comparison
    st.subheader(f"{gpus} x {md_escape(acc.name)}: own vs rent over {months} months")
    cols = st.columns(4)
    cols[0].metric("Break-even month", str(c.break_even_month) if c.break_even_month else f"none ≤ {months}",
                   help="first month from which owning stays cheaper than renting the same busy GPU-hours")
    cols[1].metric(f"Cloud minus on-prem after {months} months", usd(result.horizon_difference_usd))
    cols[2].metric("On-prem $/busy GPU-hour", usd(result.onprem_usd_per_gpu_hour, 3))
    cols[3].metric("Cloud $/busy GPU-hour (all-in)", usd(result.cloud_usd_per_gpu_hour, 3),
                   help=f"billing: {billing} ({BILLING_MODE_TEXT[billing]})")
    st.caption(md_escape(
        f"Cloud billing: {billing} ({BILLING_MODE_TEXT[billing]}). On-prem includes a "
        f"{usd(c.onprem.residual_credit_usd)} residual (book value) credit in month {months}; "
        f"NPV of owning at "
        f"{100 * c.discount_rate_per_year:g} %/year: {usd(c.npv_savings_usd)}."))
    util = result.break_even_utilisation
    st.caption(f"On-prem is cheaper per busy GPU-hour above {util:.0%} utilisation." if util is not None
               else "On-prem is not cheaper per busy GPU-hour at any utilisation under these assumptions.")
    plotly(cumulative_figure(c))
    with st.expander("Monthly cumulative cost table"):
        table(cumulative_frame(c))
    st.caption(md_escape(f"Sources: on-prem {c.onprem.source}; cloud {c.cloud.source}."))
    for warning in stale_price_warnings(result, price_source):
        st.warning(md_escape(warning))
    st.subheader("Carbon beside cost")
    table(carbon_frame(result))

    _render_unit_costs(page, desc, acc, result)

    st.subheader("Sensitivity (tornado)")
    tornado = tornado_frame(scenario)
    plotly(
        tornado_figure(tornado, f"cloud minus on-prem after {months} months (USD); right = owning saves more")
    )
    table(tornado)
    with st.expander("Assumptions in use, with sources"):
        table([*onprem.table("onprem"), *cloud.table("cloud")])


def _render_unit_costs(page: Page, desc: WorkloadDesc | None, acc: Accelerator, result: CostResult) -> None:
    if desc is None:
        return
    st.subheader(
        f"\\$ per unit of work: {md_escape(desc.name)} ({desc.task}, {desc.dtype}, batch {desc.batch})"
    )
    try:
        costs = work_unit_costs_on(desc, acc, result, catalog(), calibration_points(page))
    except UserError as exc:
        st.warning(md_escape(exc))
        return
    st.caption(md_escape(costs.note))
    table(costs.frame)


render_costs_page(page_preamble("Costs"))
