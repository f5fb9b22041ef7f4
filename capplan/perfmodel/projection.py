"""Project a workload (named, described, or a stored run) onto a catalog accelerator.

projected throughput = the roofline's ideal throughput under the plan (sharding, batch, collectives;
capplan.perfmodel.plan) x the calibrated efficiency (capplan.perfmodel.calibration); the band comes
from the spread of the calibration efficiencies. Replicas scale linearly. A Server projection is the
Offline one times the family's learned Server/Offline factor.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from capplan.catalog import Catalog, load_catalog
from capplan.errors import UserError
from capplan.perfmodel.calibration import (
    Calibration,
    CalibrationPoint,
    Context,
    PointTable,
    gather_points,
    select,
)
from capplan.perfmodel.named import WORKLOADS, lookup
from capplan.perfmodel.plan import SCENARIOS, ReplicaPlan, canonical_scenario, plan_replica
from capplan.perfmodel.roofline import Bound, PhaseTime, peak_dtype
from capplan.perfmodel.workloads import (
    WORKLOAD_TASKS,
    WorkloadDesc,
    canonical_dtype,
    describe_run,
    named_workload,
    unknown_workload,
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
    collective_ms: float
    arithmetic_intensity_flop_per_byte: float


class Projection(BaseModel):
    """Projected throughput and latency of a workload on ``count`` devices, with band and provenance."""

    workload: str
    workload_source: str
    task: str
    scenario: str | None = Field(description="offline/server (MLPerf-style throughput) or None (fixed batch)")
    dtype: str
    peak_dtype: str = Field(description="the precision whose cited peak the dtype runs at")
    batch: int
    accelerator: str
    count: int
    throughput_per_s: float = Field(description="all replicas together, in throughput_unit")
    throughput_unit: str
    band_low: float = Field(description="throughput at the low end of the 80% efficiency band")
    band_high: float = Field(description="throughput at the high end of the 80% efficiency band")
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
    server_factor: float | None = Field(None, description="Server/Offline throughput ratio applied")
    server_bound: str | None = Field(None, description="the MLPerf Server latency constraint, where known")
    min_devices: int = Field(description="devices one replica needs for its memory")
    devices_per_replica: int = Field(description="devices one replica is sharded over (>= min_devices)")
    tensor_parallel: int
    pipeline_parallel: int
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
        if lookup(name) is not None or store is None:
            return named_workload(name), None
        record = _find_run(store, name)
    if record.status is not Status.ok:
        raise UserError(f"run {record.run_id}: status {record.status.value}; only ok runs can be projected")
    desc = describe_run(record)
    if desc is None:
        raise UserError(
            f"run {record.run_id} ({record.benchmark}): its config has no flops_per_sample and no known "
            "model name; cannot describe the workload"
        )
    return desc, record


def _find_run(store: Store, run_id: str) -> RunRecord:
    matches = (
        [r for r in store.iter_records(RunFilter()) if r.run_id.startswith(run_id)]
        if len(run_id) >= 6
        else []
    )
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"run id {run_id!r} is ambiguous ({len(matches)} runs); give more characters")
    raise unknown_workload(run_id)


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
    scenario: str | None = None,
) -> Projection:
    """Project ``workload`` onto ``count`` x ``accelerator``. ``scenario`` offline/server projects
    MLPerf-style throughput (batch and sharding tuned, see plan.py); None keeps the given batch.
    ``points`` overrides the calibration set (default: stored ok records + shipped published results)."""
    if count < 1:
        raise UserError(f"--count: {count}; must be at least 1")
    if task is not None and task not in WORKLOAD_TASKS:
        raise UserError(f"--task: {task!r}; allowed: {', '.join(WORKLOAD_TASKS)}")
    if scenario is not None and canonical_scenario(scenario) is None:
        raise UserError(f"--scenario: {scenario!r}; allowed: {', '.join(SCENARIOS)}")
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
    mode = canonical_scenario(scenario)
    not_ok = 0
    if points is None:
        stored = store.query(RunFilter(status=Status.ok.value)) if store is not None else []
        not_ok = store.count() - len(stored) if store is not None else 0
        points = gather_points(catalog, stored)
    plan = plan_replica(desc, acc, count, mode)
    used_peak = peak_dtype(acc, desc.dtype)
    cal = select(plan.desc, acc, Context(PointTable(list(points))), mode, native_peak=used_peak == desc.dtype)
    proj = _projection(plan, acc.name, count, cal, mode, used_peak, record)
    if not_ok:
        proj.notes.append(
            f"{not_ok} stored run(s) not ok (failed, infeasible, skipped, ...) hold no measurement: "
            "not used for calibration"
        )
    return proj


def _projection(
    plan: ReplicaPlan,
    acc_name: str,
    count: int,
    cal: Calibration,
    mode: str | None,
    used_peak: str,
    record: RunRecord | None,
) -> Projection:
    desc = plan.desc
    offline_eff = cal.efficiency / (cal.server_factor or 1.0)
    per_replica = plan.items / (plan.step_ms / 1e3) * cal.efficiency if plan.fits else 0.0
    total = per_replica * plan.replicas
    latency = plan.step_ms / offline_eff
    key = lookup(desc.name)
    server_bound = WORKLOADS[key].server_bound or None if key and mode == "server" else None
    notes = _notes(plan, acc_name, count, cal, mode, used_peak, record, server_bound)
    if latency < LAUNCH_BOUND_MS:
        notes.append(
            f"a step of {latency:.3g} ms is below {LAUNCH_BOUND_MS} ms: kernel-launch and framework "
            "overheads, which the roofline leaves out, dominate; expect lower throughput"
        )
    return Projection(
        workload=desc.name,
        workload_source=desc.source if record is None else f"run {record.run_id}: {desc.source}",
        task=desc.task,
        scenario=mode,
        dtype=desc.dtype,
        peak_dtype=used_peak,
        batch=desc.batch,
        accelerator=acc_name,
        count=count,
        throughput_per_s=total,
        throughput_unit=f"{plan.item_unit}/s",
        band_low=total * cal.low / cal.efficiency,
        band_high=total * cal.high / cal.efficiency,
        latency_ms=latency,
        latency_low_ms=latency * cal.efficiency / cal.high,
        latency_high_ms=latency * cal.efficiency / cal.low,
        bound=plan.phases[-1].bound,
        efficiency=cal.efficiency,
        efficiency_low=cal.low,
        efficiency_high=cal.high,
        calibration_tier=cal.tier,
        calibration_points=cal.points,
        server_factor=cal.server_factor,
        server_bound=server_bound,
        min_devices=plan.min_devices,
        devices_per_replica=plan.shards,
        tensor_parallel=plan.parallel.tp,
        pipeline_parallel=plan.parallel.pp,
        replicas=plan.replicas,
        memory_required_gib=plan.fit.required_gib,
        device_memory_gib=None if plan.fit.device_bytes is None else plan.fit.device_bytes / 2**30,
        fits=plan.fits,
        phases=[_phase(p, offline_eff) for p in plan.phases],
        notes=notes,
    )


def _phase(p: PhaseTime, efficiency: float) -> PhaseProjection:
    return PhaseProjection(
        name=p.name,
        bound=p.bound,
        time_ms=p.ideal_ms / efficiency,
        flops=p.flops,
        bytes=p.bytes,
        collective_ms=p.comm_ms,
        arithmetic_intensity_flop_per_byte=p.flops / p.bytes if p.bytes else float("inf"),
    )


def _notes(
    plan: ReplicaPlan,
    name: str,
    count: int,
    cal: Calibration,
    mode: str | None,
    used_peak: str,
    record: RunRecord | None,
    server_bound: str | None,
) -> list[str]:
    desc = plan.desc
    notes = []
    if not plan.fits:
        notes.append(f"does not fit: one replica needs {plan.min_devices} x {name} (memory); got {count}")
    if plan.shards > 1:
        comm = sum(p.comm_ms * (desc.decode_tokens if p.name == "decode" else 1) for p in plan.phases)
        notes.append(
            f"one replica is sharded over {plan.shards} devices (tensor parallel {plan.parallel.tp} x "
            f"pipeline {plan.parallel.pp}; memory needs {plan.min_devices}): "
            + (
                f"collectives are {100 * comm / plan.step_ms:.0f}% of the ideal step time"
                if comm
                else "data parallel, no collectives modelled for this workload (no layer width)"
            )
        )
    if plan.replicas > 1:
        notes.append(f"{plan.replicas} replicas assumed to scale linearly")
    if mode is not None:
        notes.append(
            f"{mode} scenario: batch {desc.batch} per replica chosen to fill memory (MLPerf-style "
            "throughput); the sharding with the highest throughput per device was chosen"
        )
    if mode == "server":
        notes.append(
            f"Server (latency-bounded) throughput from {cal.scenario_basis}"
            + (f"; MLPerf bound {server_bound}" if server_bound else "")
        )
    if used_peak != desc.dtype:
        notes.append(
            f"{name} has no cited {desc.dtype} peak: compute at its {used_peak} peak "
            "(the calibrated efficiency absorbs any faster path)"
        )
    if (
        record is not None
        and str(record.config.get("device", "cpu")).startswith("cpu")
        and cal.points
        and cal.points[0].device_kind != "cpu"
    ):
        notes.append(
            f"measured on CPU: FLOPs/bytes come from the run; efficiency from {cal.points[0].device_kind} "
            "points, not from the CPU run"
        )
    if cal.tier.startswith("uncalibrated"):
        notes.append(
            "no calibration point for this workload class: default efficiency assumed, treat as rough"
        )
    elif any(p.efficiency > 1 for p in cal.points):
        notes.append(
            "some calibration efficiencies exceed 1: those runs did less work than counted or ran "
            "a faster precision than the peak used; the central figure is capped at the roofline "
            "where the peak is native"
        )
    if mode is None and any(p.scenario for p in cal.points):
        notes.append(
            f"calibration points are MLPerf throughput results at large batch; at batch {desc.batch} "
            "efficiency is usually lower (use --scenario offline for MLPerf-style throughput)"
        )
    if desc.dtype == "fp32" and plan.phases and name and used_peak == "fp32":
        notes.append("fp32 uses the non-tensor FP32 peak; pass --dtype bf16/fp16/tf32 for mixed precision")
    return notes
