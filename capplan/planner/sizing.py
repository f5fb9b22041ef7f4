"""Devices each workload needs on each accelerator, per quarter.

Inference: replicas from queueing for the p99 SLO (average and peak arrival rates), N+k spares for the
availability target, memory-fit devices per replica. Training: GPU-hours from measured/quoted hours per
run or from FLOPs at the MFU assumption; devices to meet the run deadline and the quarterly volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from capplan.catalog import Accelerator, Catalog
from capplan.costs.finance import HOURS_PER_QUARTER
from capplan.errors import UserError
from capplan.planner.availability import replica_availability, spares_for_availability
from capplan.planner.demand import demand_series
from capplan.planner.plan import Plan, ReplicaPerf, Workload
from capplan.planner.queueing import servers_for_quantile


@dataclass
class Fit:
    """One workload on one accelerator: devices and GPU-hours per quarter, with how they were derived."""

    workload: str
    accelerator: str
    owned_peak: np.ndarray  # devices if the workload's peak is served from owned/reserved capacity
    owned_avg: np.ndarray  # devices for the average load (peaks burst elsewhere)
    gpu_hours: np.ndarray  # GPU-hours if rented pay-per-use (peaks included)
    burst_gpu_hours: np.ndarray  # GPU-hours above the average-load fleet, during peak hours
    demand: np.ndarray  # requests/s (inference) or runs/quarter (training)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sizing:
    fits: dict[tuple[str, str], Fit] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    _keys: tuple[int, dict[str, list[tuple[str, str]]]] = field(default=(-1, {}), repr=False, compare=False)

    def for_workload(self, name: str) -> list[Fit]:
        if self._keys[0] != len(self.fits):  # keys by workload, rebuilt when fits were added or removed
            index: dict[str, list[tuple[str, str]]] = {}
            for key in self.fits:
                index.setdefault(key[0], []).append(key)
            self._keys = (len(self.fits), index)
        return [self.fits[k] for k in self._keys[1].get(name, []) if k in self.fits]


def memory_devices(memory_gib: float | None, acc: Accelerator, usable: float) -> int:
    """Minimum devices whose usable memory holds ``memory_gib``; 1 when either figure is unknown."""
    if not memory_gib or not acc.memory_gib:
        return 1
    return max(1, math.ceil(memory_gib / (acc.memory_gib * usable)))


def _project(w: Workload, acc: Accelerator, catalog: Catalog, store: Any) -> ReplicaPerf | str | None:
    """Replica figures from capplan.perfmodel when the workload names a workload or a stored run.

    Returns None when the workload has no reference, or a reason string when the projection cannot be used.
    """
    ref: Any = w.model.run_id or w.model.workload
    if ref is None:
        return None
    from capplan.perfmodel import project  # lazy: the roofline/calibration stack is only needed here

    kwargs: dict[str, Any] = {
        "dtype": w.model.dtype,
        "catalog": catalog,
        "store": store,
        "batch": w.model.batch,
        "task": w.model.task,
    }
    try:
        proj = project(ref, acc.name, 1, **kwargs)
        if proj.min_devices > 1:
            proj = project(ref, acc.name, proj.min_devices, **kwargs)
    except UserError as exc:
        return f"{w.name} on {acc.name}: cannot project ({exc})"
    if proj.throughput_per_s <= 0 or proj.latency_ms <= 0:
        return f"{w.name} on {acc.name}: projection gives no throughput ({'; '.join(proj.notes)})"
    points = (
        ", ".join(f"run {p.run_id} ({p.accelerator}, {p.origin})" for p in proj.calibration_points) or "none"
    )
    src = (
        f"projection of {ref} onto {proj.count}x {acc.name}: {proj.throughput_per_s:.4g} "
        f"{proj.throughput_unit} "
        f"(band {proj.band_low:.4g}-{proj.band_high:.4g}, tier {proj.calibration_tier}; calibration: "
        f"{points})"
    )
    tokens = "token" in proj.throughput_unit
    if tokens and w.tokens_per_request is None:
        return (f"{w.name} on {acc.name}: projection is in {proj.throughput_unit}; "
                "set tokens_per_request to use it")
    return ReplicaPerf(
        throughput_per_s=None if tokens else proj.throughput_per_s,
        tokens_per_s=proj.throughput_per_s if tokens else None,
        latency_ms=proj.latency_ms,
        devices=proj.count,
        source=src,
    )


def _replica_perf(w: Workload, acc: Accelerator, catalog: Catalog, store: Any) -> ReplicaPerf | str | None:
    for name, perf in w.model.per_device.items():
        if catalog.find_accelerator(name) is acc:
            return perf
    return _project(w, acc, catalog, store)


def _check_per_device_names(plan: Plan, catalog: Catalog) -> None:
    for i, w in enumerate(plan.workloads):
        for key in (*w.model.per_device, *w.model.gpu_hours_per_run):
            if catalog.find_accelerator(key) is None:
                try:
                    catalog.accelerator(key)
                except UserError as exc:
                    raise UserError(f"workloads[{i}].model: {exc}") from exc


def _training_hours(w: Workload, acc: Accelerator, plan: Plan, catalog: Catalog) -> tuple[float, str] | None:
    for name, hours in w.model.gpu_hours_per_run.items():
        if catalog.find_accelerator(name) is acc:
            return hours, w.model.source
    if w.model.train_flops_per_run is None:
        return None
    peak = acc.peak_tflops(w.model.dtype)
    if not peak:
        return None
    mfu = plan.assumptions.planning.training_mfu_fraction
    hours = w.model.train_flops_per_run / (peak * 1e12 * mfu) / 3600.0
    src = (f"{w.model.source}: {w.model.train_flops_per_run:.3g} FLOPs / ({acc.name} {w.model.dtype} "
           f"peak {peak:g} TFLOP/s [catalog: {acc.source}] x MFU {mfu:g})")
    return hours, src


def size_plan(plan: Plan, catalog: Catalog, accelerators: list[Accelerator], store: Any = None) -> Sizing:
    """Fits for every workload on every accelerator it has figures for."""
    _check_per_device_names(plan, catalog)
    out = Sizing()
    jobs: list[tuple[Workload, Accelerator, ReplicaPerf, np.ndarray]] = []
    for w in plan.workloads:
        demand = demand_series(w, plan)
        for acc in accelerators:
            if w.type == "training":
                found = _training_hours(w, acc, plan, catalog)
                if found is not None:
                    out.fits[(w.name, acc.name)] = _size_training(w, acc, plan, demand, *found)
                continue
            if w.slo.llm:
                found = _size_llm(w, acc, plan, catalog, store, demand)
                if isinstance(found, str):
                    out.excluded.append(found)
                else:
                    out.fits[(w.name, acc.name)] = found
                continue
            perf = _replica_perf(w, acc, catalog, store)
            if isinstance(perf, str):
                out.excluded.append(perf)
            elif perf is not None:
                jobs.append((w, acc, perf, demand))
        if not any((w.name, acc.name) in out.fits for acc in accelerators) and not any(
            j[0] is w for j in jobs[-len(accelerators):]
        ):
            out.excluded.append(
                f"{w.name}: no figures for any candidate accelerator (give model.per_device / "
                f"gpu_hours_per_run)"
            )
    if not jobs:
        return out
    # One vectorised queueing solve for every (workload, accelerator, quarter, average|peak).
    lam, svc, cv, slo = [], [], [], []
    for w, _acc, perf, demand in jobs:
        _rate, service_s, _slots = _replica_rates(w, perf)
        for scale in (1.0, w.burstiness):
            lam.append(demand * scale)
            svc.append(np.full(demand.size, service_s))
            cv.append(np.full(demand.size, w.service_time_cv))
            slo.append(np.full(demand.size, w.slo.p99_latency_ms / 1000.0))
    servers = servers_for_quantile(
        np.concatenate(lam), np.concatenate(svc), np.concatenate(cv), np.concatenate(slo)
    )
    q = plan.horizon_quarters
    for j, (w, acc, perf, demand) in enumerate(jobs):
        c_avg, c_peak = servers[2 * j * q : (2 * j + 1) * q], servers[(2 * j + 1) * q : (2 * j + 2) * q]
        if (c_peak < 0).any():
            out.excluded.append(
                f"{w.name} on {acc.name}: a {perf.latency_ms:g} ms service time (cv {w.service_time_cv:g}) "
                f"alone misses "
                f"the p99 SLO of {w.slo.p99_latency_ms:g} ms"
            )
            continue
        out.fits[(w.name, acc.name)] = _inference_fit(w, acc, perf, demand, c_avg, c_peak, plan)
    return out


def _replica_rates(w: Workload, perf: ReplicaPerf) -> tuple[float, float, int]:
    """Replica throughput (req/s), per-slot service time (s) and concurrent slots (Little's law)."""
    rate = perf.throughput_per_s or (perf.tokens_per_s or 0.0) / float(w.tokens_per_request or 1.0)
    latency_s = perf.latency_ms / 1000.0
    slots = max(1, math.floor(rate * latency_s + 1e-9))
    service_s = latency_s if rate * latency_s >= 1.0 else 1.0 / rate
    return rate, service_s, slots


def _inference_fit(
    w: Workload,
    acc: Accelerator,
    perf: ReplicaPerf,
    demand: np.ndarray,
    c_avg: np.ndarray,
    c_peak: np.ndarray,
    plan: Plan,
) -> Fit:
    pa = plan.assumptions.planning
    rate, service_s, slots = _replica_rates(w, perf)
    per_replica = max(perf.devices or 1, memory_devices(w.memory_gib, acc, pa.memory_usable_fraction))
    avail = replica_availability(per_replica, pa.device_mtbf_h, pa.device_mttr_h)
    target = w.slo.availability_pct / 100.0
    rep_avg, rep_peak = np.ceil(c_avg / slots), np.ceil(c_peak / slots)
    k_avg, k_peak = (
        spares_for_availability(rep_avg, avail, target),
        spares_for_availability(rep_peak, avail, target),
    )
    dev_avg, dev_peak = (rep_avg + k_avg) * per_replica, (rep_peak + k_peak) * per_replica
    peak_share = w.peak_hours_per_day / 24.0 if w.burstiness > 1 else 0.0
    burst = (dev_peak - dev_avg) * HOURS_PER_QUARTER * peak_share
    return Fit(
        workload=w.name,
        accelerator=acc.name,
        owned_peak=dev_peak,
        owned_avg=dev_avg,
        gpu_hours=dev_avg * HOURS_PER_QUARTER + burst,
        burst_gpu_hours=burst,
        demand=demand,
        details={
            "replica_throughput_per_s": rate,
            "service_time_ms": service_s * 1000.0,
            "slots_per_replica": slots,
            "devices_per_replica": per_replica,
            "servers_avg": c_avg,
            "servers_peak": c_peak,
            "replicas_peak": rep_peak,
            "spares_peak": k_peak,
            "replica_availability": avail,
            "source": perf.source,
            "replica_perf": perf,
        },
    )


def resize_inference(fit: Fit, w: Workload, plan: Plan, catalog: Catalog, extra_servers: int) -> Fit:
    """``fit`` with ``extra_servers`` more M/G/c slots in every quarter that serves traffic (average and peak
    fleets), replicas, spares and GPU-hours re-derived (e.g. after ``plan --verify`` simulated the fleet)."""
    d = fit.details
    c_avg = np.where(d["servers_avg"] > 0, d["servers_avg"] + extra_servers, 0)
    c_peak = np.where(d["servers_peak"] > 0, d["servers_peak"] + extra_servers, 0)
    acc = catalog.accelerator(fit.accelerator)
    return _inference_fit(w, acc, d["replica_perf"], fit.demand, c_avg, c_peak, plan)


def _size_training(
    w: Workload, acc: Accelerator, plan: Plan, runs: np.ndarray, hours_per_run: float, source: str
) -> Fit:
    pa = plan.assumptions.planning
    gpu_hours = runs * hours_per_run
    mem = memory_devices(w.memory_gib, acc, pa.memory_usable_fraction)
    deadline = math.ceil(hours_per_run / w.deadline_hours) if w.deadline_hours else 1
    sustained = np.ceil(gpu_hours / (HOURS_PER_QUARTER * pa.training_max_utilisation_fraction))
    devices = np.where(runs > 0, np.maximum(np.maximum(sustained, deadline), mem), 0.0)
    return Fit(
        workload=w.name,
        accelerator=acc.name,
        owned_peak=devices,
        owned_avg=devices,
        gpu_hours=gpu_hours,
        burst_gpu_hours=np.zeros_like(gpu_hours),
        demand=runs,
        details={
            "gpu_hours_per_run": hours_per_run,
            "devices_for_deadline": deadline,
            "devices_for_memory": mem,
            "source": source,
        },
    )


def _size_llm(w: Workload, acc: Accelerator, plan: Plan, catalog: Catalog, store: Any,
              demand: np.ndarray) -> Fit | str:
    """LLM serving: replicas = demand / per-replica capacity within the TTFT/TPOT SLOs (capplan.planner.llm),
    plus N+k spares for availability; average and peak (demand x burstiness)."""
    from capplan.planner.llm import llm_capacity

    pa = plan.assumptions.planning
    cap = llm_capacity(w, acc, catalog, store, memory_devices(w.memory_gib, acc, pa.memory_usable_fraction))
    if isinstance(cap, str):
        return cap
    rep_avg = np.ceil(demand / cap.rate_rps - 1e-9)
    rep_peak = np.ceil(demand * w.burstiness / cap.rate_rps - 1e-9)
    details = {"llm": True, "replica_throughput_per_s": cap.rate_rps, "devices_per_replica": cap.devices,
               "source": cap.source, **cap.details}
    return _llm_fit(w, acc.name, plan, demand, rep_avg, rep_peak, details)


def _llm_fit(w: Workload, acc_name: str, plan: Plan, demand: np.ndarray, rep_avg: np.ndarray,
             rep_peak: np.ndarray, details: dict[str, Any]) -> Fit:
    """An LLM fit from its serving replicas per quarter (average and peak): N+k spares, devices, GPU-hours."""
    pa = plan.assumptions.planning
    devices = int(details["devices_per_replica"])
    avail = replica_availability(devices, pa.device_mtbf_h, pa.device_mttr_h)
    target = w.slo.availability_pct / 100.0
    k_avg = spares_for_availability(rep_avg, avail, target)
    k_peak = spares_for_availability(rep_peak, avail, target)
    dev_avg, dev_peak = (rep_avg + k_avg) * devices, (rep_peak + k_peak) * devices
    peak_share = w.peak_hours_per_day / 24.0 if w.burstiness > 1 else 0.0
    burst = (dev_peak - dev_avg) * HOURS_PER_QUARTER * peak_share
    return Fit(workload=w.name, accelerator=acc_name, owned_peak=dev_peak, owned_avg=dev_avg,
               gpu_hours=dev_avg * HOURS_PER_QUARTER + burst, burst_gpu_hours=burst, demand=demand,
               details={**details, "replicas_avg": rep_avg, "replicas_peak": rep_peak, "spares_peak": k_peak,
                        "replica_availability": avail})


def resize_llm(fit: Fit, w: Workload, plan: Plan, extra_replicas: int) -> Fit:
    """``fit`` with ``extra_replicas`` more serving replicas in every quarter that serves traffic (average
    and peak fleets), spares and GPU-hours re-derived (after ``plan --verify`` simulated the fleet)."""
    d = fit.details
    rep_avg = np.where(d["replicas_avg"] > 0, d["replicas_avg"] + extra_replicas, 0)
    rep_peak = np.where(d["replicas_peak"] > 0, d["replicas_peak"] + extra_replicas, 0)
    return _llm_fit(w, fit.accelerator, plan, fit.demand, rep_avg, rep_peak, dict(d))
