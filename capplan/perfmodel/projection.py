"""Project a workload (named, described, or a stored run) onto a catalog accelerator.

projected time = roofline ideal time on the target / calibrated efficiency; the band comes from the
spread of the calibration efficiencies. Several devices: the model is first sharded over the
minimum devices its memory needs (their compute and bandwidth add up; no communication term), then
replicated across the rest with linear scaling. Both simplifications are stated in the notes.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from capplan.catalog import Catalog, load_catalog
from capplan.errors import UserError
from capplan.perfmodel.calibration import Calibration, CalibrationPoint, gather_points, select
from capplan.perfmodel.memory import memory_fit
from capplan.perfmodel.roofline import Bound, PhaseTime, headline_phase, phase_times, step_ms
from capplan.perfmodel.workloads import (
    OFFLINE_NOMINAL_BATCH,
    WorkloadDesc,
    canonical_dtype,
    describe_run,
    named_workload,
)
from capplan.results.schema import RunRecord, Status
from capplan.results.store import RunFilter, Store

# Below this step time per-kernel launch and framework dispatch (microseconds per op, many ops per
# step) are no longer small next to the roofline time, so the projection is flagged as optimistic.
LAUNCH_BOUND_MS = 0.1


class PhaseProjection(BaseModel):
    """One phase at the calibrated efficiency."""

    name: str
    bound: Bound
    time_ms: float
    flops: float
    bytes: float
    arithmetic_intensity_flop_per_byte: float


class Projection(BaseModel):
    """Projected throughput and latency of a workload on ``count`` devices, with band and provenance."""

    workload: str
    workload_source: str
    task: str
    dtype: str
    batch: int
    accelerator: str
    count: int
    throughput_per_s: float = Field(description="all replicas together, in throughput_unit")
    throughput_unit: str
    band_low: float = Field(description="throughput at the lowest calibration efficiency")
    band_high: float = Field(description="throughput at the highest calibration efficiency")
    latency_ms: float = Field(
        description="one step (batch) or, for generate, one request: prefill + all decode steps"
    )
    latency_low_ms: float
    latency_high_ms: float
    bound: Bound
    efficiency: float
    efficiency_low: float
    efficiency_high: float
    calibration_tier: str
    calibration_points: list[CalibrationPoint]
    min_devices: int
    replicas: int
    memory_required_gib: float
    device_memory_gib: float | None
    fits: bool
    phases: list[PhaseProjection]
    notes: list[str]


def resolve_workload(
    workload: str | RunRecord | WorkloadDesc, store: Store | None
) -> tuple[WorkloadDesc, RunRecord | None]:
    """A WorkloadDesc from a name, a description, a record, or a run id in ``store``."""
    if isinstance(workload, WorkloadDesc):
        return workload, None
    record = workload if isinstance(workload, RunRecord) else None
    if record is None:
        name = str(workload)
        try:
            return named_workload(name), None
        except UserError:
            if store is None:
                raise
            record = _find_run(store, name)
    if record.status is not Status.ok:
        raise UserError(f"run {record.run_id}: status {record.status.value}; only ok runs can be projected")
    desc = describe_run(record)
    if desc is None:
        raise UserError(
            f"run {record.run_id} ({record.benchmark}): its config has no flops_per_sample and no known "
            f"model "
            "name; cannot describe the workload"
        )
    return desc, record


def _find_run(store: Store, run_id: str) -> RunRecord:
    matches = (
        [r for r in store.iter_records(RunFilter()) if r.run_id.startswith(run_id)]
        if len(run_id) >= 6
        else []
    )
    if len(matches) != 1:
        what = "is ambiguous" if matches else "is neither a known workload nor a stored run id"
        raise UserError(f"{run_id!r} {what}; workloads: bert-base, bert-large, resnet50, gpt2, llama-7b, ... "
                        "(see `capplan project --help`)")
    return matches[0]


def project(
    workload: str | RunRecord | WorkloadDesc,
    accelerator: str,
    count: int = 1,
    dtype: str | None = None,
    catalog: Catalog | None = None,
    store: Store | None = None,
    *,
    batch: int | None = None,
    task: str | None = None,
    points: Iterable[CalibrationPoint] | None = None,
) -> Projection:
    """Project ``workload`` onto ``count`` x ``accelerator``. ``points`` overrides the calibration set
    (default: stored ok records + shipped published results)."""
    if count < 1:
        raise UserError(f"--count: {count}; must be at least 1")
    catalog = catalog or load_catalog()
    acc = catalog.accelerator(accelerator)
    desc, record = resolve_workload(workload, store)
    updates: dict[str, object] = {}
    if dtype:
        updates["dtype"] = canonical_dtype(dtype)
    if batch:
        updates["batch"] = batch
    if task:
        updates["task"] = task
    desc = desc.model_copy(update=updates)
    not_ok = 0
    if points is None:
        stored = store.query(RunFilter(status=Status.ok.value)) if store is not None else []
        not_ok = store.count() - len(stored) if store is not None else 0
        points = gather_points(catalog, stored)
    cal = select(desc, acc, list(points))
    fit = memory_fit(desc, acc)
    shards = fit.min_devices
    replicas = count // shards
    phases = phase_times(desc, acc, devices=shards)
    head = headline_phase(phases)
    per_replica = head.items / (head.ideal_ms / cal.efficiency / 1e3)
    latency = step_ms(phases, desc) / cal.efficiency
    notes = _notes(desc, acc.kind, record, cal, shards, replicas, count, acc.name)
    if not_ok:
        notes.append(f"{not_ok} stored run(s) not ok (failed, infeasible, skipped, ...) hold no measurement: "
                     "not used for calibration")
    if latency < LAUNCH_BOUND_MS:
        notes.append(f"a step of {latency:.3g} ms is below {LAUNCH_BOUND_MS} ms: kernel-launch and framework "
                     "overheads, which the roofline leaves out, dominate; expect lower throughput")
    return Projection(
        workload=desc.name,
        workload_source=desc.source if record is None else f"run {record.run_id}: {desc.source}",
        task=desc.task,
        dtype=desc.dtype,
        batch=desc.batch,
        accelerator=acc.name,
        count=count,
        throughput_per_s=per_replica * replicas,
        throughput_unit=f"{head.item_unit}/s",
        band_low=per_replica * replicas * cal.low / cal.efficiency,
        band_high=per_replica * replicas * cal.high / cal.efficiency,
        latency_ms=latency,
        latency_low_ms=latency * cal.efficiency / cal.high,
        latency_high_ms=latency * cal.efficiency / cal.low,
        bound=head.bound,
        efficiency=cal.efficiency,
        efficiency_low=cal.low,
        efficiency_high=cal.high,
        calibration_tier=cal.tier,
        calibration_points=cal.points,
        min_devices=shards,
        replicas=replicas,
        memory_required_gib=fit.required_gib,
        device_memory_gib=None if fit.device_bytes is None else fit.device_bytes / 2**30,
        fits=replicas >= 1,
        phases=[_phase(p, cal.efficiency) for p in phases],
        notes=notes,
    )


def _phase(p: PhaseTime, efficiency: float) -> PhaseProjection:
    return PhaseProjection(
        name=p.name,
        bound=p.bound,
        time_ms=p.ideal_ms / efficiency,
        flops=p.flops,
        bytes=p.bytes,
        arithmetic_intensity_flop_per_byte=p.flops / p.bytes if p.bytes else float("inf"),
    )


def _notes(
    desc: WorkloadDesc,
    kind: str,
    record: RunRecord | None,
    cal: Calibration,
    shards: int,
    replicas: int,
    count: int,
    name: str,
) -> list[str]:
    notes = []
    if replicas < 1:
        notes.append(f"does not fit: one replica needs {shards} x {name} (memory); got {count}")
    if shards > 1:
        notes.append(f"model sharded over {shards} devices by memory; no communication cost modelled")
    if replicas > 1:
        notes.append(f"{replicas} replicas assumed to scale linearly (no interconnect term)")
    if record is not None and str(record.config.get("device", "cpu")).startswith("cpu") and kind != "cpu":
        notes.append(
            f"measured on CPU: FLOPs/bytes come from the run; efficiency from {kind} points, not from the "
            f"CPU run"
        )
    if cal.tier.startswith("uncalibrated"):
        notes.append(
            "no calibration point for this workload class: default efficiency assumed, treat as rough"
        )
    if any(p.efficiency > 1 for p in cal.points):
        notes.append(
            "some calibration efficiencies exceed 1 (those runs did less work than counted: MLPerf BERT "
            "skips sequence padding, FLOPs are counted at 384 tokens): the central figure is capped at the "
            "roofline, "
            "the band's top keeps them"
        )
    if any(p.desc.batch != desc.batch for p in cal.points):
        notes.append(
            f"calibration points ran at other batch sizes (e.g. MLPerf Offline, assumed "
            f"{OFFLINE_NOMINAL_BATCH}); "
            "small batches usually reach a lower efficiency than large ones"
        )
    if desc.dtype == "fp32" and kind == "gpu":
        notes.append("fp32 uses the non-tensor FP32 peak; pass --dtype bf16/fp16/tf32 for mixed precision")
    return notes
