"""Roofline of measured points: arithmetic intensity vs achieved TFLOP/s under measured ceilings.

GEMM points take their intensity from the matmul shape: 2*M*N*K FLOPs over the compulsory traffic
(M*K + K*N + M*N) * element size bytes, i.e. each operand read once and the result written once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from capplan.results.schema import RunRecord
from capplan.views.kinds import COMPUTE_KINDS, MEMBW_KINDS
from capplan.views.runs import config_facet, measured

ELEMENT_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}
GEMM_METRIC = re.compile(r"^(?:tflops|tops)_(\d+)x(\d+)x(\d+)$")
POINT_COLUMNS = ("label", "dtype", "intensity_flop_per_byte", "tflops", "pct_of_peak", "run_id")


@dataclass(frozen=True)
class Roofline:
    """Measured points plus the compute and bandwidth ceilings they are drawn under."""

    points: pd.DataFrame
    peak_tflops: float | None
    bandwidth_gbps: float | None
    ceiling_note: str


def gemm_intensity(m: int, n: int, k: int, dtype: str) -> float | None:
    """FLOP per byte of an M x N x K matmul in ``dtype`` (None for an unknown dtype)."""
    elem = ELEMENT_BYTES.get(dtype)
    return None if elem is None else 2.0 * m * n * k / ((m * k + k * n + m * n) * elem)


def roofline_points(records: Iterable[RunRecord]) -> Roofline:
    """GEMM points of ``records`` under ceilings from the same records.

    Compute ceiling: the highest catalog peak attached to a GEMM metric, else the best measured GEMM
    (CPU peaks are not in the catalog). Memory ceiling: the best measured memory bandwidth (membw).
    Pass the records of one host: ceilings of different machines do not mix. Only ok runs count.
    """
    rows, peaks, bandwidths = [], [], []
    for r in measured(records):
        dtype = config_facet(r, "dtype") or ""
        for m in r.metrics:
            if r.kind in MEMBW_KINDS and m.unit == "GB/s":
                bandwidths.append(m.value)
            shape = GEMM_METRIC.match(m.name)
            ai = (
                gemm_intensity(*map(int, shape.groups()), dtype)
                if shape and r.kind in COMPUTE_KINDS
                else None
            )
            if ai is None:
                continue
            if m.peak:
                peaks.append((m.peak, m.peak_source or "catalog peak"))
            rows.append({"label": f"{r.benchmark} {m.name.split('_', 1)[1]}", "dtype": dtype,
                         "intensity_flop_per_byte": ai, "tflops": m.value, "pct_of_peak": m.pct_of_peak,
                         "run_id": r.run_id})
    points = pd.DataFrame(rows, columns=list(POINT_COLUMNS))
    notes = []
    peak: float | None = None
    if peaks:
        peak, source = max(peaks)
        notes.append(f"compute {peak:.3g} TFLOP/s ({source})")
    elif len(points):
        peak = float(points["tflops"].max())
        notes.append(f"compute {peak:.3g} TFLOP/s (best measured GEMM; no catalog peak for this device)")
    bandwidth = max(bandwidths) if bandwidths else None
    if bandwidth is not None:
        notes.append(f"memory {bandwidth:.3g} GB/s (best measured membw)")
    note = "Ceilings: " + "; ".join(notes) + "." if notes else "No ceilings measured."
    return Roofline(points, peak, bandwidth, note)
