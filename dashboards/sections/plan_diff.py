"""Plan revisions: two result.json files of one plan compared (what changed, what it did to the plan)."""

from __future__ import annotations

import streamlit as st
from dash_common import plotly, table

from capplan.views.plan_diff import DIFF_SECTIONS, PlanDiff, UserError, diff_cumulative_figure, read_results
from capplan.views.text import md_escape, usd


def render_plan_diff_page() -> None:
    """Draw the Plan revisions page: two uploads in, the comparison out."""
    st.title("Plan revisions")
    st.caption("Upload the result.json that `capplan plan PLAN.yaml --out DIR` wrote for an earlier and a "
               "later revision of the same plan (the CLI: `capplan plan diff OLD.json NEW.json`).")
    left, right = st.columns(2)
    old = left.file_uploader("Earlier revision (result.json)", type=["json"], key="diff_old")
    new = right.file_uploader("Later revision (result.json)", type=["json"], key="diff_new")
    if old is None or new is None:
        st.info("Upload both result.json files to compare them.")
        return
    try:
        diff = read_results(old.getvalue(), old.name, new.getvalue(), new.name)
    except UserError as exc:
        st.error(md_escape(exc))
        return
    render_diff(diff)


def render_diff(diff: PlanDiff) -> None:
    """Headline metrics, the summary sentences, the cumulative-cost chart and every non-empty table."""
    st.subheader(md_escape(diff.new.plan_name))
    cols = st.columns(3)
    change = diff.new.recommended_net_usd - diff.old.recommended_net_usd
    cols[0].metric("Net cost (recommended)", usd(diff.new.recommended_net_usd), delta=usd(change),
                   delta_color="inverse")
    cols[1].metric("Break-even vs all-cloud (old)",
                   f"month {diff.old.break_even_month}" if diff.old.break_even_month else "none")
    cols[2].metric("Break-even vs all-cloud (new)",
                   f"month {diff.new.break_even_month}" if diff.new.break_even_month else "none")
    for line in diff.summary:
        st.markdown(f"- {md_escape(line)}")
    plotly(diff_cumulative_figure(diff))
    for name, title in DIFF_SECTIONS.items():
        frame = getattr(diff, name)
        if not frame.empty:
            st.subheader(title)
            table(frame)


render_plan_diff_page()
