"""LLM-serving view: TTFT/TPOT percentiles of stored load points against offered rate or concurrency, the
SLO lines, and the goodput knee (the load point with the highest goodput that still meets the SLOs, the
capacity figure the planner sizes by). Pure functions of records; figures in plotly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import pandas as pd
import plotly.graph_objects as go

from capplan.results.schema import RunRecord, Status
from capplan.results.serving import ServeSLO, point_goodput
from capplan.views.kinds import SERVE_KINDS

__all__ = ["AXES", "ServeSLO", "goodput_figure", "knees", "percentile_figure", "serving_frame"]
Axis = Literal["rate", "concurrency"]
AXES: dict[str, str] = {
    "rate": "offered rate (requests/s)",
    "concurrency": "concurrency (requests in flight)",
}
PERCENTILES = ("p50", "p90", "p99")
COLUMNS = (
    "series",
    "load",
    "rate",
    "concurrency",
    "throughput_rps",
    "goodput_rps",
    "meets_slo",
    "judged_by",
    *(f"{m}_{p}_ms" for m in ("ttft", "tpot", "itl") for p in PERCENTILES),
    "errors_pct",
    "run_id",
)


def serving_records(records: Iterable[RunRecord]) -> list[RunRecord]:
    """Ok load points of the serve kind (measured or imported); search summaries duplicate their best
    trial and are left out."""
    return [
        r
        for r in records
        if r.kind in SERVE_KINDS and r.status is Status.ok and r.tags.get("search") != "result"
    ]


def series_label(r: RunRecord) -> str:
    """What a curve groups by: the tool (or capplan), model, endpoint and sweep."""
    facts = r.config.get("facts", {})
    parts = [
        r.suite or "serve",
        str(facts.get("model") or ""),
        str(facts.get("endpoint") or ""),
        r.tags.get("sweep_id", ""),
    ]
    return " · ".join(p for p in parts if p)


def serving_frame(records: Iterable[RunRecord], slo: ServeSLO | None = None) -> pd.DataFrame:
    """One row per load point: load, percentiles (only those the sample supports), throughput and, with
    ``slo``, goodput and whether the point meets it."""
    rows = []
    for r in serving_records(records):
        facts = r.config.get("facts", {})
        row: dict[str, object] = {
            "series": series_label(r),
            "load": facts.get("load") or r.benchmark,
            "rate": facts.get("rate_rps"),
            "concurrency": facts.get("concurrency"),
            "run_id": r.run_id,
        }
        throughput = r.metric("request_throughput_rps")
        row["throughput_rps"] = throughput.value if throughput else None
        errors = r.metric("error_rate_pct")
        row["errors_pct"] = errors.value if errors else None
        for metric in ("ttft", "tpot", "itl"):
            m = r.metric(f"{metric}_ms")
            for p in PERCENTILES:
                row[f"{metric}_{p}_ms"] = m.stats.get(p) if m else None
        judged = point_goodput(r, slo) if slo is not None and slo.given else None
        goodput = r.metric("goodput_rps")
        row["goodput_rps"] = judged[1] if judged else goodput.value if goodput else None
        row["meets_slo"] = judged[0] if judged else None
        row["judged_by"] = judged[2] if judged else None
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def knees(frame: pd.DataFrame) -> pd.DataFrame:
    """Per series, the load point with the highest goodput among those meeting the SLO (the goodput
    knee); series where none does are absent."""
    ok = frame[frame["meets_slo"] == True]  # noqa: E712 (the column holds None for unjudged points)
    if ok.empty:
        return ok
    return ok.loc[ok.groupby("series")["goodput_rps"].idxmax()].reset_index(drop=True)


def _on_axis(frame: pd.DataFrame, x: Axis) -> pd.DataFrame:
    return frame[frame[x].notna()].sort_values(["series", x])


def percentile_figure(
    frame: pd.DataFrame, metric: Literal["ttft", "tpot", "itl"], x: Axis, slo_ms: float | None = None
) -> go.Figure:
    """p50/p90/p99 of ``metric`` against ``x`` per series, with the SLO as a horizontal line."""
    fig = go.Figure()
    data = _on_axis(frame, x)
    dashes = {"p50": "solid", "p90": "dash", "p99": "dot"}
    for series, group in data.groupby("series"):
        for p in PERCENTILES:
            y = group[f"{metric}_{p}_ms"]
            if y.notna().any():
                fig.add_trace(
                    go.Scatter(
                        x=group[x],
                        y=y,
                        mode="lines+markers",
                        name=f"{p} · {series}",
                        line={"dash": dashes[p]},
                    )
                )
    if slo_ms is not None:
        fig.add_hline(y=slo_ms, line_dash="dash", line_color="red", annotation_text=f"SLO {slo_ms:g} ms")
    fig.update_layout(
        xaxis_title=AXES[x],
        yaxis_title=f"{metric.upper()} (ms)",
        legend_title="percentile · series",
        margin={"t": 30},
    )
    return fig


def goodput_figure(frame: pd.DataFrame, x: Axis) -> go.Figure:
    """Goodput (and total throughput) against ``x`` per series; the knee of each series is starred."""
    fig = go.Figure()
    data = _on_axis(frame, x)
    for series, group in data.groupby("series"):
        fig.add_trace(
            go.Scatter(
                x=group[x],
                y=group["throughput_rps"],
                mode="lines+markers",
                name=f"throughput · {series}",
                line={"dash": "dot"},
            )
        )
        if group["goodput_rps"].notna().any():
            fig.add_trace(
                go.Scatter(
                    x=group[x], y=group["goodput_rps"], mode="lines+markers", name=f"goodput · {series}"
                )
            )
    knee = _on_axis(knees(frame), x)
    if not knee.empty:
        fig.add_trace(
            go.Scatter(
                x=knee[x],
                y=knee["goodput_rps"],
                mode="markers",
                name="goodput knee",
                marker={"symbol": "star", "size": 16, "color": "red"},
            )
        )
    fig.update_layout(xaxis_title=AXES[x], yaxis_title="requests/s", margin={"t": 30})
    return fig
