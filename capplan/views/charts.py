"""Plotly figures of stored runs: status counts, latency distributions, throughput–latency, roofline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from capplan.results.schema import RunRecord
from capplan.views.roofline import Roofline
from capplan.views.runs import measured, run_label

STATUS_COLOURS = {
    "ok": "#2e7d32",
    "failed": "#c62828",
    "timeout": "#ef6c00",
    "oom": "#6a1b9a",
    "skipped": "#757575",
}


def status_bar_figure(counts: Mapping[str, int]) -> go.Figure:
    """Bar chart of run counts per status."""
    fig = go.Figure(go.Bar(
        x=list(counts), y=list(counts.values()),
        marker_color=[STATUS_COLOURS.get(s, "#1565c0") for s in counts], text=list(counts.values()),
    ))
    fig.update_layout(yaxis_title="benchmarks", height=280, margin={"t": 20, "b": 20})
    return fig


def sample_keys(records: Sequence[RunRecord]) -> list[str]:
    """Raw-sample series present in any ok run of ``records`` (keys carry their unit, e.g. latency_ms)."""
    return sorted({k for r in measured(records) for k, v in r.samples.items() if v})


def distribution_figure(records: Sequence[RunRecord], key: str) -> go.Figure:
    """Box plot with all points of raw samples ``key`` per ok run: the spread behind each median."""
    fig = go.Figure()
    for r in measured(records):
        values = r.samples.get(key)
        if values:
            fig.add_trace(go.Box(y=values, name=run_label(r), boxpoints="outliers", boxmean=True))
    fig.update_layout(yaxis_title=key, showlegend=False, height=420, margin={"t": 20})
    return fig


def throughput_latency_figure(points: pd.DataFrame, slo_ms: float) -> go.Figure:
    """Throughput vs p99 latency per series (batch sizes as labels) with the SLO as a horizontal line."""
    fig = go.Figure()
    for series, grp in points.groupby("series", sort=True):
        fig.add_trace(
            go.Scatter(
                x=grp["throughput"],
                y=grp["latency_p99_ms"],
                mode="lines+markers+text",
                name=str(series),
                text=[f"b{b}" if b is not None and b == b else "" for b in grp["batch"]],
                textposition="top center",
            )
        )
    fig.add_hline(y=slo_ms, line_dash="dash", line_color="#c62828", annotation_text=f"SLO p99 {slo_ms:g} ms")
    unit = points["throughput_unit"].iloc[0] if len(points) else ""
    fig.update_layout(xaxis_title=f"throughput ({unit})", yaxis_title="p99 latency (ms)", height=460,
                      margin={"t": 30}, legend={"orientation": "h"})
    return fig


def roofline_figure(roof: Roofline) -> go.Figure:
    """Log-log roofline: measured points under min(peak, bandwidth x intensity)."""
    pts = roof.points
    fig = go.Figure()
    lo = min(pts["intensity_flop_per_byte"].min() / 4, 0.01)
    hi = max(pts["intensity_flop_per_byte"].max() * 4, 100.0)
    xs = np.logspace(np.log10(lo), np.log10(hi), 200)
    if roof.peak_tflops is not None or roof.bandwidth_gbps is not None:
        ceiling = np.full_like(xs, np.inf)
        if roof.peak_tflops is not None:
            ceiling = np.minimum(ceiling, roof.peak_tflops)
        if roof.bandwidth_gbps is not None:
            ceiling = np.minimum(ceiling, roof.bandwidth_gbps * xs / 1000.0)  # GB/s x FLOP/B = GFLOP/s
        fig.add_trace(go.Scatter(x=xs, y=ceiling, mode="lines", name="ceiling", line={"color": "#424242"}))
    for dtype, grp in pts.groupby("dtype", sort=True):
        fig.add_trace(
            go.Scatter(
                x=grp["intensity_flop_per_byte"],
                y=grp["tflops"],
                mode="markers",
                name=f"GEMM {dtype}",
                text=grp["label"],
                marker={"size": 10},
            )
        )
    fig.update_layout(xaxis_type="log", yaxis_type="log", xaxis_title="arithmetic intensity (FLOP/byte)",
                      yaxis_title="achieved TFLOP/s", height=460, margin={"t": 30})
    return fig
