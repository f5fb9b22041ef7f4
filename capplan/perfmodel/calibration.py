"""Efficiency factors from measured runs: efficiency = roofline ideal time / measured time.

Sources: the user's stored records (local runs on a device the catalog knows, and imported
results) plus the published MLPerf results shipped in ``capplan/catalog/data/published_mlperf.csv``.

Which points calibrate a projection (first tier with any point wins, documented in the output):
1. same workload family and task, same accelerator;
2. same family and task, same micro-architecture (e.g. Hopper);
3. same family and task, same device kind (gpu / cpu / accelerator);
4. same task, same device kind.
Within a tier, points measured in the projection's dtype are preferred when there are any.
A CPU measurement never calibrates a GPU projection: tiers 3-4 require the target's device kind, so
a CPU record projected onto a GPU takes its workload (FLOPs, bytes) from the record and its
efficiency from GPU points. With no point at all a documented default is used and flagged.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from capplan.catalog import Accelerator, Catalog
from capplan.errors import UserError
from capplan.perfmodel.roofline import Bound, headline_phase, phase_times
from capplan.perfmodel.workloads import WorkloadDesc, describe_run
from capplan.results.schema import RunRecord, Status

# No calibration point: assume half of the roofline, band a quarter to three quarters. This is an
# assumption, not a measurement; projections using it say so ("uncalibrated").
DEFAULT_EFFICIENCY = 0.5
DEFAULT_EFFICIENCY_BAND = (0.25, 0.75)
# Fewer than 3 points say little about spread: widen the band to at least +-30% of the median.
MIN_POINTS_FOR_SPREAD = 3
MIN_REL_HALF_BAND = 0.3
# The central projection never beats the roofline: efficiencies above 1 (runs that did less work than
# counted, e.g. MLPerf BERT skipping padding) give at most 1.0; the band's top keeps them, since a
# runtime that also skips padding can get there.
MAX_EFFICIENCY = 1.0
THROUGHPUT_UNITS = {"infer": ("samples/s", "queries/s"), "train": ("samples/s",), "generate": ("tokens/s",)}
# Preferred headline metric per task (names the harness and importers use); else the first metric in the unit.
THROUGHPUT_METRICS = {"infer": "throughput_samples_per_s", "train": "throughput_samples_per_s",
                      "generate": "decode_tokens_per_s"}
TIERS = ("same accelerator", "same architecture", "same device kind", "same task and device kind")


class CalibrationPoint(BaseModel):
    """One measured run turned into an efficiency on a known device."""

    run_id: str
    origin: str
    benchmark: str
    workload: str
    family: str
    task: str
    dtype: str
    accelerator: str
    arch: str | None
    device_kind: str
    measured_per_device: float = Field(description="measured throughput per device")
    unit: str
    efficiency: float = Field(description="roofline ideal time / measured time")
    bound: Bound
    desc: WorkloadDesc = Field(exclude=True)


class Calibration(BaseModel):
    """Efficiency chosen for one projection, with its band and the points behind it."""

    efficiency: float
    low: float
    high: float
    tier: str
    points: list[CalibrationPoint]


def published_records() -> list[RunRecord]:
    """The MLPerf results shipped with capplan, parsed by the MLPerf results-CSV importer."""
    from capplan.results.importers.mlperf import load_results_csv

    res = resources.files("capplan.catalog") / "data" / "published_mlperf.csv"
    return load_results_csv(Path("published_mlperf.csv"), res.read_bytes())


def resolve_device(record: RunRecord, catalog: Catalog) -> tuple[Accelerator, int] | None:
    """The catalog device a record ran on and how many, from tags, config or the hardware inventory."""
    cfg = {**record.config, **(record.config.get("facts") or {})}
    names: list[Any] = [
        record.tags.get("accelerator"),
        cfg.get("accelerator"),
        *(cfg.get("accelerator_candidates") or []),
    ]
    device = str(cfg.get("device") or "")
    inventory = record.inventory or {}
    if device.startswith("cuda"):
        names += [g.get("name") for g in inventory.get("gpus") or [] if isinstance(g, dict)]
    elif inventory.get("cpu"):
        names.append((inventory.get("cpu") or {}).get("model"))
    for name in names:
        acc = catalog.find_accelerator(str(name)) if name else None
        if acc is not None:
            count = cfg.get("accelerator_count") or cfg.get("world_size") or 1
            return acc, int(count)
    return None


def point_from_record(record: RunRecord, catalog: Catalog) -> CalibrationPoint | None:
    """A calibration point, or None when the record lacks a workload, a known device or a throughput."""
    if record.status is not Status.ok:
        return None
    desc = describe_run(record)
    found = resolve_device(record, catalog)
    if desc is None or found is None:
        return None
    acc, count = found
    usable = [m for m in record.metrics if m.unit.lower() in THROUGHPUT_UNITS[desc.task] and m.value > 0]
    metric = next(
        (m for m in usable if m.name == THROUGHPUT_METRICS[desc.task]), usable[0] if usable else None
    )
    if metric is None:
        return None
    try:
        head = headline_phase(phase_times(desc, acc))
    except UserError:  # a device without a cited peak for this dtype cannot calibrate
        return None
    per_device = metric.value / count
    measured_ms = 1e3 * head.items / per_device
    return CalibrationPoint(
        run_id=record.run_id, origin=record.origin or f"local run on {acc.name}", benchmark=record.benchmark,
        workload=desc.name, family=desc.family, task=desc.task, dtype=desc.dtype, accelerator=acc.name,
        arch=acc.arch, device_kind=acc.kind, measured_per_device=per_device, unit=metric.unit,
        efficiency=head.ideal_ms / measured_ms, bound=head.bound, desc=desc,
    )


def gather_points(
    catalog: Catalog, records: Iterable[RunRecord] = (), *, published: bool = True
) -> list[CalibrationPoint]:
    """Points from ``records`` plus the shipped published results (a stored copy wins over the shipped
    one)."""
    seen: dict[str, CalibrationPoint] = {}
    sources = [*records, *(published_records() if published else [])]
    for record in sources:
        if record.run_id in seen:
            continue
        point = point_from_record(record, catalog)
        if point is not None:
            seen[record.run_id] = point
    return list(seen.values())


def select(desc: WorkloadDesc, target: Accelerator, points: list[CalibrationPoint]) -> Calibration:
    """Efficiency for ``desc`` on ``target`` from the first matching tier (see module docstring)."""
    same_work = [p for p in points if p.family == desc.family and p.task == desc.task]
    tiers = (
        [p for p in same_work if p.accelerator == target.name],
        [p for p in same_work if target.arch and p.arch == target.arch],
        [p for p in same_work if p.device_kind == target.kind],
        [p for p in points if p.task == desc.task and p.device_kind == target.kind],
    )
    for tier, matching in zip(TIERS, tiers, strict=True):
        same_dtype = [p for p in matching if p.dtype == desc.dtype]
        chosen = same_dtype or matching  # within a tier, points in the projection's dtype win
        if chosen:
            effs = [p.efficiency for p in chosen]
            mid = statistics.median(effs)
            low, high = min(effs), max(effs)
            if len(chosen) < MIN_POINTS_FOR_SPREAD:
                low, high = min(low, mid * (1 - MIN_REL_HALF_BAND)), max(high, mid * (1 + MIN_REL_HALF_BAND))
            mid = min(mid, MAX_EFFICIENCY)
            return Calibration(
                efficiency=mid, low=min(low, mid), high=max(high, mid), tier=tier, points=chosen
            )
    return Calibration(
        efficiency=DEFAULT_EFFICIENCY,
        low=DEFAULT_EFFICIENCY_BAND[0],
        high=DEFAULT_EFFICIENCY_BAND[1],
        tier="uncalibrated (default efficiency)",
        points=[],
    )
