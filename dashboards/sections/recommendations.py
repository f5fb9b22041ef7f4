"""Recommendations: hybrid placement with plain-language reasons, alternatives and report downloads."""

from __future__ import annotations

import streamlit as st
from dash_common import Page, page_preamble, plotly, table
from dash_models import chosen_plan_result

from capplan.reports import mime_type, report_files
from capplan.views.plan import PlanResult, residency_markdown
from capplan.views.plan import table as plan_table
from capplan.views.plan_charts import alternatives_figure, cumulative_cost_chart, tornado_chart
from capplan.views.text import md_escape, usd


@st.cache_data(show_spinner="Writing the report files…", max_entries=8)
def _report_files(result_json: str) -> dict[str, bytes]:
    """Report files of a result, written once per result (the HTML inlines ~5 MB of plotly.js)."""
    return report_files(PlanResult.model_validate_json(result_json))


def render_recommendations_page(page: Page) -> None:
    """Draw the Recommendations page for the chosen plan."""
    result = chosen_plan_result(page)
    if result is None:
        return
    st.subheader(f"{md_escape(result.plan_name)}: why this placement")
    for row in result.reasons:
        st.markdown(f"- **{md_escape(row.topic)}**: {md_escape(row.text)}")

    residency = residency_markdown(result)
    if residency:
        st.subheader("Data residency: constraints of each sensitive workload")
        for block in residency:
            st.markdown(block)
        with st.expander("Every option checked against the residency rules"):
            table(plan_table(result, "residency"))

    st.subheader("All-cloud vs all-on-prem vs recommended")
    cols = st.columns(3)
    cols[0].metric("Recommended", usd(result.recommended_net_usd))
    cols[1].metric("All cloud", usd(result.all_cloud_net_usd))
    cols[2].metric("All on-prem", usd(result.all_onprem_net_usd))
    alternatives = plan_table(result, "alternatives")
    left, right = st.columns(2)
    with left:
        plotly(alternatives_figure(alternatives))
    with right:
        plotly(cumulative_cost_chart(result))
    table(alternatives)

    st.subheader("Placement")
    table(plan_table(result, "placement"))
    tornado = tornado_chart(result)
    if tornado is not None:
        st.subheader("Sensitivity (tornado, re-optimised)")
        plotly(tornado)
        table(plan_table(result, "scenarios"))

    st.subheader("Reports")
    files = _report_files(result.model_dump_json())
    cols = st.columns(4)
    for i, (name, data) in enumerate(files.items()):
        cols[i % 4].download_button(
            name,
            data,
            file_name=name,
            mime=mime_type(name),
            key=f"download_{name}",
        )


render_recommendations_page(page_preamble("Recommendations"))
