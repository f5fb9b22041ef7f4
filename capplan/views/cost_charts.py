"""Plotly figures of cost comparisons: cumulative cost with break-even, tornado."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from capplan.costs import Comparison

ONPREM_COLOUR, CLOUD_COLOUR, BREAK_EVEN_COLOUR = "#1565c0", "#ef6c00", "#2e7d32"


def cumulative_figure(c: Comparison) -> go.Figure:
    """Cumulative USD of owning vs renting per month, with the break-even month marked."""
    months = list(range(1, len(c.onprem.cumulative_usd) + 1))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=months, y=c.onprem.cumulative_usd, name=c.onprem.label, line={"color": ONPREM_COLOUR})
    )
    fig.add_trace(
        go.Scatter(x=months, y=c.cloud.cumulative_usd, name=c.cloud.label, line={"color": CLOUD_COLOUR})
    )
    if c.break_even_month is not None:
        m = c.break_even_month
        fig.add_vline(x=m, line_dash="dash", line_color=BREAK_EVEN_COLOUR)
        fig.add_trace(
            go.Scatter(
                x=[m],
                y=[c.onprem.cumulative_usd[m - 1]],
                mode="markers+text",
                marker={"size": 12, "color": BREAK_EVEN_COLOUR},
                text=[f"break-even: month {m}"],
                textposition="top left",
                name="break-even",
            )
        )
    fig.update_layout(xaxis_title="month", yaxis_title="cumulative cost (USD)", height=440, margin={"t": 30},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def tornado_figure(df: pd.DataFrame, title: str, *, label: str = "driver", low: str = "low_end_usd",
                   high: str = "high_end_usd", base: str = "base_usd", hover: str = "range") -> go.Figure:
    """Horizontal bars from each driver's low-end to high-end result around the base value."""
    df = df.iloc[::-1]  # widest swing on top
    centre = float(df[base].iloc[0]) if len(df) else 0.0
    fig = go.Figure()
    for column, name, colour in ((low, "low end", "#90caf9"), (high, "high end", "#1565c0")):
        fig.add_trace(go.Bar(y=df[label], x=df[column] - centre, base=centre, orientation="h", name=name,
                             marker_color=colour, hovertext=df[hover]))
    fig.add_vline(x=centre, line_color="#424242")
    fig.update_layout(
        barmode="overlay",
        xaxis_title=title,
        height=max(260, 45 * len(df)),
        margin={"t": 20, "l": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
