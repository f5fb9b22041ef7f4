"""Hardware comparison: catalog accelerators beside this host's measurements, projections of a
workload onto catalog hardware with their bands and memory fit, and cloud $ per unit of work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from capplan.catalog import Catalog
from capplan.costs import CloudAssumptions, PricingModel, cloud_gpu_hour_cost_usd, cloud_price
from capplan.perfmodel import Projection
from capplan.results.schema import RunRecord
from capplan.views.costs import work_unit_costs
from capplan.views.kinds import COMPUTE_KINDS, MEMBW_KINDS

CATALOG_COLUMNS = ("accelerator", "kind", "memory_gib", "mem_bw_gbps", "peak_tflops", "tdp_w", "source",
                   "measured")


def catalog_frame(catalog: Catalog, dtype: str) -> pd.DataFrame:
    """Catalog accelerators with the dense peak for ``dtype`` (TOP/s for int8) and their cited source."""
    rows = [{
        "accelerator": a.name, "kind": a.kind, "memory_gib": a.memory_gib, "mem_bw_gbps": a.mem_bw_gbps,
        "peak_tflops": a.peak_tflops(dtype), "tdp_w": a.tdp_w, "source": f"{a.source} ({a.source_date})",
        "measured": False,
    } for a in catalog.accelerators]
    return pd.DataFrame(rows, columns=list(CATALOG_COLUMNS))


def local_row(records: Iterable[RunRecord], dtype: str, label: str) -> dict[str, object] | None:
    """This host as a catalog-like row: best measured GEMM TFLOP/s in ``dtype`` and best membw GB/s."""
    tflops, bandwidth = [], []
    for r in records:
        if r.kind in COMPUTE_KINDS and r.config.get("dtype") == dtype:
            tflops += [m.value for m in r.metrics if m.unit == "TFLOP/s"]
        elif r.kind in MEMBW_KINDS:
            bandwidth += [m.value for m in r.metrics if m.unit == "GB/s"]
    if not tflops and not bandwidth:
        return None
    return {
        "accelerator": label,
        "kind": "this host",
        "memory_gib": None,
        "mem_bw_gbps": max(bandwidth) if bandwidth else None,
        "peak_tflops": max(tflops) if tflops else None,
        "tdp_w": None,
        "source": "measured here (best GEMM / best membw run in the store)",
        "measured": True,
    }


def peaks_frame(catalog: Catalog, dtype: str, records: Iterable[RunRecord], label: str) -> pd.DataFrame:
    """``catalog_frame`` led by this host's measured row (``local_row``) when ``records`` hold one."""
    frame = catalog_frame(catalog, dtype)
    local = local_row(records, dtype, label)
    return frame if local is None else pd.concat([pd.DataFrame([local]), frame], ignore_index=True)


PROJECTION_COLUMNS = (
    "accelerator",
    "count",
    "throughput_per_s",
    "band_low",
    "band_high",
    "unit",
    "latency_ms",
    "latency_low_ms",
    "latency_high_ms",
    "bound",
    "efficiency",
    "calibration",
    "calibration_points",
    "memory_required_gib",
    "device_memory_gib",
    "min_devices",
    "fits",
    "notes",
)


def projection_frame(projections: Sequence[Projection]) -> pd.DataFrame:
    """One row per projection: throughput with its band, latency, bound, memory fit and provenance."""
    rows = [
        {
            "accelerator": p.accelerator,
            "count": p.count,
            "throughput_per_s": p.throughput_per_s,
            "band_low": p.band_low,
            "band_high": p.band_high,
            "unit": p.throughput_unit,
            "latency_ms": p.latency_ms,
            "latency_low_ms": p.latency_low_ms,
            "latency_high_ms": p.latency_high_ms,
            "bound": p.bound,
            "efficiency": p.efficiency,
            "calibration": p.calibration_tier,
            "calibration_points": len(p.calibration_points),
            "memory_required_gib": p.memory_required_gib,
            "device_memory_gib": p.device_memory_gib,
            "min_devices": p.min_devices,
            "fits": p.fits,
            "notes": "; ".join(p.notes),
        }
        for p in projections
    ]
    return pd.DataFrame(rows, columns=list(PROJECTION_COLUMNS))


def throughput_per_device(p: Projection) -> float | None:
    """Projected throughput per device in use (None when the workload does not fit)."""
    return p.throughput_per_s / (p.replicas * p.devices_per_replica) if p.fits else None


UNIT_COST_COLUMNS = ("accelerator", "instance", "usd_per_gpu_hour", "price_date", "throughput_per_gpu_s",
                     "unit", "usd_per_1m_tokens", "usd_per_1k_inferences", "price_source")


def unit_cost_frame(projections: Sequence[Projection], catalog: Catalog, model: PricingModel,
                    assumptions: CloudAssumptions | None = None) -> pd.DataFrame:
    """Per projected accelerator, the cheapest cloud instance under ``model`` and its $ per unit of work
    (default cloud assumptions unless given).

    Throughput per GPU is the projection's throughput divided by the devices it uses; the GPU-hour
    cost includes spot overhead and the monitoring/retraining share (capplan.costs) and is per busy
    GPU-hour, i.e. billed only while working (autoscaled with no warm floor).
    """
    assumptions = assumptions or CloudAssumptions()
    rows = []
    for p in projections:
        prices = [
            c for c in (cloud_price(i, model, assumptions) for i in catalog.instances_for(p.accelerator)) if c
        ]
        per_gpu = throughput_per_device(p)
        if not prices or per_gpu is None:
            continue
        best = min(prices, key=lambda c: cloud_gpu_hour_cost_usd(c, assumptions))
        cost = work_unit_costs(cloud_gpu_hour_cost_usd(best, assumptions), per_gpu, p.throughput_unit)
        rows.append(
            {
                "accelerator": p.accelerator,
                "instance": f"{best.provider} {best.instance} ({best.region})",
                "usd_per_gpu_hour": cost.per_gpu_hour,
                "price_date": best.price_short_label,
                "throughput_per_gpu_s": per_gpu,
                "unit": p.throughput_unit,
                "usd_per_1m_tokens": cost.per_1m_tokens,
                "usd_per_1k_inferences": cost.per_1k_inferences,
                "price_source": best.source,
            }
        )
    return pd.DataFrame(rows, columns=list(UNIT_COST_COLUMNS))
