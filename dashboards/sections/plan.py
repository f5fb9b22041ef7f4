"""Capacity plan: pick or upload a plan.yaml; capacity-gap timeline per quarter and order-by dates."""

from __future__ import annotations

import streamlit as st
from dash_common import Page, page_preamble, plotly, table
from dash_models import chosen_plan_result

from capplan.views.plan import table as plan_table
from capplan.views.plan_charts import capacity_gap_chart
from capplan.views.text import md_escape, usd


def render_plan_page(page: Page) -> None:
    """Draw the Capacity plan page; the store supplies measured runs that the plan refers to."""
    result = chosen_plan_result(page)
    if result is None:
        return
    st.subheader(f"{md_escape(result.plan_name)}: {result.quarters[0]} to {result.quarters[-1]}")
    cols = st.columns(4)
    cols[0].metric("Recommended net cost", usd(result.recommended_net_usd))
    cols[1].metric("Cloud share of demand", f"{result.cloud_share:.0%}")
    purchases = plan_table(result, "purchases")
    cols[2].metric("Purchases / commitments", len(purchases))
    first_order = min(purchases["order_by"]) if len(purchases) else "none"
    cols[3].metric("First order by", first_order)
    st.caption(f"Solver: {result.solver_status}; generated {result.generated_utc} UTC.")
    for note in result.excluded:
        st.caption(f"Excluded: {md_escape(note)}")

    st.subheader("Capacity gap per quarter")
    timeline = plan_table(result, "timeline")
    if timeline.empty:
        st.info("The plan places nothing on owned or committed capacity (all on-demand cloud).")
    else:
        plotly(capacity_gap_chart(result))
        table(timeline)
    st.subheader("What to order, and when")
    table(purchases, "Nothing to buy or commit to in this plan.")
    with st.expander("Sizing per workload, accelerator and quarter"):
        table(plan_table(result, "sizing"))


render_plan_page(page_preamble("Capacity plan"))
