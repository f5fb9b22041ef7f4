"""Throughput–latency points of inference runs (one point per batch size), for curves against an SLO."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from capplan.results.schema import Metric, RunRecord
from capplan.views.runs import fact, measured

DEFAULT_SLO_MS = 200.0  # the project's default p99 inference SLO (plan.yaml uses the same default)
POINT_COLUMNS = ("series", "batch", "throughput", "throughput_unit", "latency_p99_ms", "run_id")
_SERIES_KEYS = ("model", "size", "backend", "dtype", "device")
_SWEEP_LATENCY = re.compile(r"^latency_ms_b(\d+)$")
_SWEEP_THROUGHPUT = re.compile(r"^throughput_[a-z]+_per_s_b(\d+)$")


def _throughput(record: RunRecord) -> Metric | None:
    return next(
        (
            m
            for m in record.metrics
            if m.name.startswith("throughput") and not _SWEEP_THROUGHPUT.match(m.name)
        ),
        None,
    )


def p99_latency_ms(record: RunRecord) -> float | None:
    """p99 latency in ms: a ``latency_p99_ms`` metric, else the p99 statistic of a ``latency*_ms`` metric."""
    direct = record.metric("latency_p99_ms")
    if direct is not None:
        return direct.value
    for m in record.metrics:
        if m.name.startswith("latency") and m.unit == "ms" and "p99" in m.stats:
            return m.stats["p99"]
    return None


def series_label(record: RunRecord) -> str:
    """What a curve groups by: everything about the run except its batch size."""
    parts = [str(v) for v in (fact(record, k) for k in _SERIES_KEYS) if v is not None]
    return " · ".join(parts) or record.benchmark


def _sweep_points(record: RunRecord) -> list[tuple[int, Metric, float]]:
    """(batch, throughput metric, p99 ms) per batch of a sweep stored in one record
    (``throughput_<unit>_b<N>`` and ``latency_ms_b<N>`` metrics, as the infer kind writes them)."""
    latency = {
        int(m.group(1)): r for r in record.metrics if (m := _SWEEP_LATENCY.match(r.name)) and "p99" in r.stats
    }
    out = []
    for metric in record.metrics:
        m = _SWEEP_THROUGHPUT.match(metric.name)
        if m and int(m.group(1)) in latency:
            batch = int(m.group(1))
            out.append((batch, metric, latency[batch].stats["p99"]))
    return out


def throughput_latency_points(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Throughput vs p99 latency of the ok runs, one row per batch size: from a sweep inside one record
    (one curve per run) or from one run per batch size (runs of the same configuration form one curve)."""
    rows = []
    for r in measured(records):
        sweep = _sweep_points(r)
        if sweep:
            series = f"{series_label(r)} · {r.run_id[:6]}"
            rows += [{"series": series, "batch": b, "throughput": m.value, "throughput_unit": m.unit,
                      "latency_p99_ms": p99, "run_id": r.run_id} for b, m, p99 in sweep]
            continue
        tp, p99 = _throughput(r), p99_latency_ms(r)
        if tp is not None and p99 is not None:
            rows.append({"series": series_label(r), "batch": fact(r, "batch"), "throughput": tp.value,
                         "throughput_unit": tp.unit, "latency_p99_ms": p99, "run_id": r.run_id})
    df = pd.DataFrame(rows, columns=list(POINT_COLUMNS))
    return df.sort_values(["series", "throughput"]).reset_index(drop=True)


def slo_ms(records: Iterable[RunRecord]) -> float:
    """The p99 SLO the newest inference run was measured against, else the project default."""
    return next((float(v) for r in records if (v := fact(r, "slo_p99_ms")) is not None), DEFAULT_SLO_MS)


def max_throughput_under_slo(points: pd.DataFrame, slo_ms: float) -> pd.DataFrame:
    """Per series, the highest-throughput point whose p99 latency meets the SLO (series that never do are
    left out)."""
    ok = points[points["latency_p99_ms"] <= slo_ms]
    if ok.empty:
        return ok
    return ok.loc[ok.groupby("series")["throughput"].idxmax()].reset_index(drop=True)
