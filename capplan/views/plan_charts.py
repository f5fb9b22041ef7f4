"""Plotly figures of a plan result: capacity-gap timeline, alternatives, cumulative cost, tornado.

``plan_charts`` is the one list of charts that both the dashboard and the HTML/PDF report draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from capplan.costs.format import usd
from capplan.planner import PlanResult
from capplan.views.cost_charts import tornado_figure
from capplan.views.plan import table

MAX_CLASSES = 8  # resource classes drawn in the timeline (the table lists all)
ALTERNATIVE_COLOURS = {"recommended": "#2e7d32", "all_cloud": "#ef6c00", "all_onprem": "#1565c0"}


def gap_timeline_figure(timeline: pd.DataFrame) -> go.Figure:
    """Per resource class and quarter: GPUs owned/committed, added by the plan, and needed."""
    classes = list(dict.fromkeys(timeline["resource_class"]))[:MAX_CLASSES]
    fig = make_subplots(
        rows=len(classes), cols=1, shared_xaxes=True, subplot_titles=classes, vertical_spacing=0.08
    )
    for row, cls in enumerate(classes, start=1):
        df = timeline[timeline["resource_class"] == cls]
        first = row == 1
        fig.add_trace(go.Bar(x=df["quarter"], y=df["have_gpus"], name="have", marker_color="#90a4ae",
                             legendgroup="have", showlegend=first), row=row, col=1)
        fig.add_trace(
            go.Bar(
                x=df["quarter"],
                y=df["planned_gpus"],
                name="added by the plan",
                marker_color="#1565c0",
                legendgroup="planned",
                showlegend=first,
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=df["quarter"],
                y=df["need_gpus"],
                name="need",
                mode="lines+markers",
                line={"color": "#c62828"},
                legendgroup="need",
                showlegend=first,
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(title_text="GPUs", row=row, col=1)
    fig.update_layout(barmode="stack", height=max(320, 260 * len(classes)), margin={"t": 40},
                      legend={"orientation": "h", "y": -0.12})
    return fig


def alternatives_figure(alternatives: pd.DataFrame) -> go.Figure:
    """Net cost over the horizon of the recommended plan and the all-cloud / all-on-prem alternatives."""
    fig = go.Figure(go.Bar(
        x=alternatives["alternative"], y=alternatives["net_usd"],
        marker_color=[ALTERNATIVE_COLOURS.get(a, "#757575") for a in alternatives["alternative"]],
        text=[usd(v) for v in alternatives["net_usd"]], textposition="outside",
    ))
    fig.update_layout(yaxis_title="net cost over the horizon (USD)", height=380, margin={"t": 30})
    return fig


def plan_cumulative_figure(cumulative: pd.DataFrame, break_even_month: int | None) -> go.Figure:
    """Cumulative cost per month of each alternative, break-even of the plan vs all-cloud marked."""
    fig = go.Figure()
    for alt, df in cumulative.groupby("alternative", sort=False):
        fig.add_trace(go.Scatter(x=df["month"], y=df["cumulative_usd"], name=str(alt),
                                 line={"color": ALTERNATIVE_COLOURS.get(str(alt), "#757575")}))
    if break_even_month is not None:
        fig.add_vline(x=break_even_month, line_dash="dash", line_color="#2e7d32",
                      annotation_text=f"break-even vs all-cloud: month {break_even_month}")
    fig.update_layout(xaxis_title="month", yaxis_title="cumulative cost (USD)", height=400, margin={"t": 30})
    return fig


def cumulative_cost_chart(result: PlanResult) -> go.Figure:
    """The plan's cumulative cost per month against all-cloud and all-on-prem, break-even marked."""
    return plan_cumulative_figure(table(result, "cumulative"), result.break_even_month)


def capacity_gap_chart(result: PlanResult) -> go.Figure | None:
    """GPUs had, added and needed per resource class and quarter; None when the plan places nothing."""
    timeline = table(result, "timeline")
    return None if timeline.empty else gap_timeline_figure(timeline)


def tornado_chart(result: PlanResult) -> go.Figure | None:
    """Net cost of the re-optimised plan at each driver's low and high end; None without sensitivity."""
    tornado = table(result, "tornado")
    if tornado.empty:
        return None
    return tornado_figure(tornado, "net cost of the recommended plan (USD)", label="parameter",
                          low="net_low_usd", high="net_high_usd", base="net_base_usd", hover="unit")


@dataclass(frozen=True)
class PlanChart:
    """One chart of a plan result, with the words a report prints around it."""

    key: str
    title: str
    caption: str
    figure: go.Figure | None  # None: nothing to draw, ``caption`` says why


def plan_charts(result: PlanResult) -> list[PlanChart]:
    """Cumulative cost, capacity gap and tornado: the charts of the report (the dashboard draws the same)."""
    be = (f"break-even vs all-cloud in month {result.break_even_month} (dashed line)"
          if result.break_even_month else "no break-even vs all-cloud within the horizon")
    return [
        PlanChart("cumulative", "Cumulative cost: recommended plan vs all-cloud vs all-on-prem",
                  f"USD per month, summed; capex counts in the month it is paid, residual value of owned "
                  f"hardware is credited in the last month; {be}.", cumulative_cost_chart(result)),
        PlanChart("capacity_gap", "Capacity gap per quarter",
                  "GPUs per resource class: had before the plan (grey), added by the plan (blue), needed "
                  "(red line); the Capacity-gap timeline table lists every class and order-by date.",
                  capacity_gap_chart(result)),
        PlanChart("tornado", "Sensitivity (tornado): what moves the net cost",
                  "Net cost of the re-optimised plan with one driver at its low or high end; the table "
                  "'Sensitivity' lists the ranges."
                  if result.tornado else "Sensitivity analysis was not run (--no-sensitivity).",
                  tornado_chart(result)),
    ]
