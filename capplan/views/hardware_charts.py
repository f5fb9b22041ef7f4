"""Plotly figures of the hardware comparison."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

MEASURED_COLOUR, CATALOG_COLOUR = "#ef6c00", "#1565c0"


def peaks_figure(frame: pd.DataFrame, dtype: str) -> go.Figure:
    """Dense peak per accelerator for ``dtype`` (log scale), this host's measured best highlighted."""
    df = frame.dropna(subset=["peak_tflops"]).sort_values("peak_tflops")
    fig = go.Figure(go.Bar(
        x=df["peak_tflops"], y=df["accelerator"], orientation="h",
        marker_color=[MEASURED_COLOUR if m else CATALOG_COLOUR for m in df["measured"]],
        hovertext=df["source"],
    ))
    unit = "TOP/s" if dtype == "int8" else "TFLOP/s"
    fig.update_layout(xaxis_type="log", xaxis_title=f"{dtype} dense peak ({unit}); orange = measured here",
                      height=max(320, 22 * len(df)), margin={"t": 20, "l": 10})
    return fig


def projection_figure(frame: pd.DataFrame) -> go.Figure:
    """Projected throughput per accelerator with the calibration band as error bars."""
    df = frame[frame["fits"]].sort_values("throughput_per_s")
    fig = go.Figure(go.Bar(
        x=df["throughput_per_s"], y=df["accelerator"], orientation="h", marker_color=CATALOG_COLOUR,
        error_x={"type": "data", "symmetric": False, "array": df["band_high"] - df["throughput_per_s"],
                 "arrayminus": df["throughput_per_s"] - df["band_low"]},
    ))
    unit = df["unit"].iloc[0] if len(df) else ""
    fig.update_layout(
        xaxis_title=f"projected throughput ({unit}); bars = calibration band",
        height=max(300, 40 * len(df)),
        margin={"t": 20, "l": 10},
    )
    return fig


def unit_cost_figure(frame: pd.DataFrame, column: str, label: str) -> go.Figure:
    """Cloud $ per unit of work per accelerator (cheapest instance each)."""
    df = frame.dropna(subset=[column]).sort_values(column, ascending=False)
    fig = go.Figure(go.Bar(x=df[column], y=df["accelerator"], orientation="h", marker_color="#2e7d32",
                           hovertext=df["instance"]))
    fig.update_layout(xaxis_title=label, height=max(280, 40 * len(df)), margin={"t": 20, "l": 10})
    return fig
