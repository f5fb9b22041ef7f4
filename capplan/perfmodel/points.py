"""Calibration points: measured runs turned into efficiencies on known devices.

efficiency = measured throughput per device / the roofline's ideal throughput per device under the same
plan (sharding, batch, scenario; capplan.perfmodel.plan). Sources: the user's stored records (local runs
on a catalog device, imported results), the MLPerf Inference results shipped in
``capplan/catalog/data/published_mlperf.csv`` and the training throughput tables shipped in
``capplan/catalog/data/published_training.csv``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from capplan.catalog import Accelerator, Catalog
from capplan.errors import UserError
from capplan.perfmodel.plan import ReplicaPlan, canonical_scenario, plan_replica
from capplan.perfmodel.roofline import Bound
from capplan.perfmodel.workloads import WorkloadDesc, describe_run
from capplan.results.schema import RunRecord, Status

THROUGHPUT_UNITS = {
    "infer": ("samples/s", "queries/s"),
    "train": ("samples/s", "tokens/s"),
    "generate": ("tokens/s", "samples/s"),
}
# Preferred headline metric per task (names the harness and importers use); else the first metric in the unit.
THROUGHPUT_METRICS = {
    "infer": ("throughput_samples_per_s", "throughput_queries_per_s"),
    "train": ("throughput_samples_per_s",),
    "generate": ("throughput_tokens_per_s", "throughput_samples_per_s", "decode_tokens_per_s"),
}
# A harness generate record's headline is its decode rate: it is compared with the decode phase alone.
DECODE_ONLY_METRIC = "decode_tokens_per_s"


class CalibrationPoint(BaseModel):
    """One measured result turned into an efficiency on a known device."""

    run_id: str
    origin: str
    benchmark: str
    workload: str
    variant: str = Field("", description="MLPerf accuracy target (99 or 99.9), else ''")
    family: str
    task: str
    dtype: str
    accelerator: str
    arch: str | None
    vendor: str
    device_kind: str
    scenario: str | None = Field(None, description="offline/server for MLPerf-style results, else None")
    system: str = Field(description="the system the result comes from (round/submitter/system or the run)")
    count: int = Field(1, ge=1, description="devices the result was measured on")
    measured_per_device: float = Field(description="measured throughput per device")
    unit: str
    ideal_per_device: float = Field(description="roofline throughput per device under the same plan")
    efficiency: float = Field(description="measured / ideal (in the point's own scenario)")
    bound: Bound
    source_date: str | None = None
    desc: WorkloadDesc = Field(exclude=True)


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


def make_point(
    *,
    run_id: str,
    origin: str,
    benchmark: str,
    desc: WorkloadDesc,
    acc: Accelerator,
    count: int,
    scenario: str | None,
    system: str,
    measured_total: float,
    unit: str,
    source_date: str | None = None,
    decode_only: bool = False,
) -> CalibrationPoint | None:
    """A point from a measured total throughput; None when the device has no cited peak for the dtype."""
    try:
        plan = plan_replica(desc, acc, count, scenario)
    except UserError:  # a device without a cited peak or bandwidth cannot calibrate
        return None
    ideal = _decode_rate(plan) if decode_only else plan.ideal_per_device
    measured = measured_total / count
    return CalibrationPoint(
        run_id=run_id,
        origin=origin,
        benchmark=benchmark,
        workload=desc.name,
        variant=desc.variant,
        family=desc.family,
        task=desc.task,
        dtype=desc.dtype,
        accelerator=acc.name,
        arch=acc.arch,
        vendor=acc.vendor,
        device_kind=acc.kind,
        scenario=canonical_scenario(scenario),
        system=system,
        count=count,
        measured_per_device=measured,
        unit=unit,
        ideal_per_device=ideal,
        efficiency=measured / ideal,
        bound=plan.phases[-1].bound,
        source_date=source_date,
        desc=plan.desc,
    )


def _decode_rate(plan: ReplicaPlan) -> float:
    decode = plan.phases[-1]
    return decode.items / (decode.ideal_ms / 1e3) / plan.shards


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
    preferred = [m for name in THROUGHPUT_METRICS[desc.task] for m in usable if m.name == name]
    metric = (preferred or usable or [None])[0]
    if metric is None:
        return None
    cfg = record.config
    decode_only = metric.name == DECODE_ONLY_METRIC
    if desc.task == "generate" and not decode_only:
        item = "tokens" if metric.unit.lower() == "tokens/s" else "samples"
        desc = desc.model_copy(update={"throughput_item": item})
    system = "/".join(str(cfg[k]) for k in ("round", "submitter", "system") if cfg.get(k)) or record.run_id
    return make_point(
        run_id=record.run_id,
        origin=record.origin or f"local run on {acc.name}",
        benchmark=record.benchmark,
        desc=desc,
        acc=acc,
        count=count,
        scenario=cfg.get("scenario"),
        system=system,
        measured_total=metric.value,
        unit=metric.unit,
        source_date=cfg.get("source_date"),
        decode_only=decode_only,
    )


def published_records() -> list[RunRecord]:
    """The MLPerf Inference results shipped with capplan, parsed by the MLPerf results-CSV importer."""
    from capplan.results.importers.mlperf import load_results_csv

    res = resources.files("capplan.catalog") / "data" / "published_mlperf.csv"
    return load_results_csv(Path("published_mlperf.csv"), res.read_bytes())


def _catalog_key(catalog: Catalog) -> str:
    text = "".join(a.model_dump_json() for a in catalog.accelerators)
    return hashlib.sha256(text.encode()).hexdigest()


_PUBLISHED: dict[str, tuple[CalibrationPoint, ...]] = {}


def published_points(catalog: Catalog) -> list[CalibrationPoint]:
    """Points from the shipped published inference and training results (cached per catalog content)."""
    from capplan.perfmodel.training import training_points

    key = _catalog_key(catalog)
    if key not in _PUBLISHED:
        inference = [p for r in published_records() if (p := point_from_record(r, catalog)) is not None]
        _PUBLISHED.clear()  # one catalog at a time is the common case; keep memory flat
        _PUBLISHED[key] = (*inference, *training_points(catalog))
    return list(_PUBLISHED[key])


def gather_points(
    catalog: Catalog, records: Iterable[RunRecord] = (), *, published: bool = True
) -> list[CalibrationPoint]:
    """Points from ``records`` plus the shipped published results (a stored copy wins over the shipped
    one)."""
    seen: dict[str, CalibrationPoint] = {}
    for record in records:
        if record.run_id not in seen and (point := point_from_record(record, catalog)) is not None:
            seen[record.run_id] = point
    for point in published_points(catalog) if published else []:
        seen.setdefault(point.run_id, point)
    return list(seen.values())
