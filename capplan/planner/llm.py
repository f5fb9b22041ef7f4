"""LLM serving capacity per replica: requests/s that one replica serves within the TTFT and TPOT SLOs.

Sources, in order:
1. stored ``capplan bench serve`` runs measured on that accelerator (``model.serve_runs``): each load
   point's SLO attainment is re-evaluated under the plan's SLOs from its per-request samples (errors are
   misses; an import without samples is judged by its reported p99s); the capacity is the highest goodput
   among the points that meet them;
2. a projection that models the two phases apart (continuous batching on one replica):
   - prefill of one prompt is compute-bound: p = max(prompt FLOPs / peak, weights / bandwidth) / eff;
   - a decode step for b running sequences is bandwidth-bound: s(b) = max(b x FLOPs per token / peak,
     (weights + b x context x KV bytes per token) / bandwidth) / eff, context = prompt + output / 2;
   - the batch is capped by KV-cache memory: (usable memory - weights) / KV bytes per request
     (capplan.perfmodel.memory.max_concurrent_sequences);
   - prefills run between decode steps, so at arrival rate L a replica decoding b sequences gives
     TPOT = s(b) / (1 - L p) and sustains L(b) = b / (output x s(b) + b p); TTFT p99 = the p99 response
     of an M/D/1 prefill queue (service p) plus one decode step;
   - the capacity is the highest L whose TPOT and TTFT p99 meet the SLOs. eff is the calibrated roofline
     efficiency of the generate task on that accelerator (capplan.perfmodel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from capplan.catalog import Accelerator, Catalog
from capplan.errors import UserError
from capplan.harness.registry import record_kind_task
from capplan.perfmodel.memory import kv_bytes_per_sequence, max_concurrent_sequences
from capplan.perfmodel.roofline import peak_flops
from capplan.perfmodel.workloads import DTYPE_BYTES, WorkloadDesc
from capplan.planner.plan import Workload
from capplan.planner.simulate_llm import simulate_llm_replica, unit_gaps
from capplan.results.schema import RunRecord, Status
from capplan.results.serving import ServeSLO, point_goodput
from capplan.results.store import RunFilter

SLO_QUANTILE = 0.99  # the plan states p99 TTFT/TPOT SLOs: 99 % of requests must meet them
SEARCH_REL_TOL = 0.01  # the projected capacity is bracketed to 1 %
SEARCH_MAX_STEPS = 16
# Near the knee a p99 moves a lot between samples of the same load (requests in one batch are not
# independent): a rate counts as meeting the SLOs only if three independent arrival samples all do, each
# by the upper bound of its p99's confidence interval.
SIZING_SEEDS = (0, 1, 2)
MAX_BATCH_SCAN = 65_536  # batches considered by the projection (KV memory usually caps far below)


@dataclass
class LlmCapacity:
    """What one replica sustains within the SLOs, and how that was found."""

    rate_rps: float
    devices: int
    source: str
    details: dict[str, Any] = field(default_factory=dict)


def plan_slo(w: Workload) -> ServeSLO:
    return ServeSLO(ttft_ms=w.slo.ttft_p99_ms, tpot_ms=w.slo.tpot_p99_ms, attainment_pct=100 * SLO_QUANTILE)


# -- 1. stored bench serve runs ------------------------------------------------------------------------------
def _selected(store: Any, selector: str) -> list[RunRecord]:
    records = [
        r
        for r in store.query(RunFilter(status=Status.ok.value))
        if record_kind_task(r.kind, r.config) == "serve" and r.tags.get("search") != "result"
    ]
    return [
        r
        for r in records
        if r.tags.get("sweep_id") == selector
        or r.run_id.startswith(selector)
        or r.benchmark.startswith(selector)
    ]


def capacity_from_runs(
    w: Workload, acc: Accelerator, selector: str, store: Any, devices: int
) -> LlmCapacity | str:
    """Goodput-max rate of the stored load points named by ``selector``, under the plan's SLOs."""
    if store is None:
        return f"{w.name} on {acc.name}: model.serve_runs names {selector!r} but no store was given (--store)"
    records = _selected(store, selector)
    if not records:
        return f"{w.name} on {acc.name}: no stored ok bench serve run matches {selector!r}"
    slo = plan_slo(w)
    judged = [(r, p) for r in records if (p := point_goodput(r, slo)) is not None]
    passing = [(r, p) for r, p in judged if p[0]]
    if not passing:
        best = max((p[1] for _, p in judged), default=0.0)
        return (
            f"{w.name} on {acc.name}: none of the {len(records)} stored load points ({selector}) met "
            f"{slo.describe()} (best goodput {best:.3g} requests/s)"
        )
    record, (_, goodput, how) = max(passing, key=lambda rp: rp[1][1])
    facts = record.config.get("facts", {})
    shape = w.request_shape
    measured = (facts.get("input_tokens"), facts.get("output_tokens"))
    mismatch = ""
    if (
        shape is not None
        and measured != (None, None)
        and measured != (str(shape.input_tokens), str(shape.output_tokens))
    ):
        mismatch = (
            f"; measured at input {measured[0]}, output {measured[1]} tokens while the plan states "
            f"{shape.input_tokens}/{shape.output_tokens}"
        )
    source = (
        f"stored bench serve runs {selector!r} on {acc.name}: goodput-max {goodput:.4g} requests/s at "
        f"load {facts.get('load', '?')} (run {record.run_id[:12]}, {how}; {len(passing)} of "
        f"{len(records)} points met {slo.describe()}){mismatch}"
    )
    return LlmCapacity(
        rate_rps=goodput,
        devices=devices,
        source=source,
        details={"capacity_source": "run", "run_id": record.run_id, "load": facts.get("load")},
    )


# -- 2. projection -----------------------------------------------------------------------------------------
@dataclass
class PhaseModel:
    """Prefill time of one prompt and decode-step time per batch on one replica (seconds)."""

    prefill_s: float
    step_s: np.ndarray  # step_s[b - 1] = one decode step with b running sequences
    max_batch: int

    def rate_at(self, output_tokens: int) -> np.ndarray:
        """Requests/s a replica sustains with b sequences decoding, per b."""
        b = np.arange(1, self.step_s.size + 1)
        return b / (output_tokens * self.step_s + b * self.prefill_s)


def phase_model(
    desc: WorkloadDesc,
    acc: Accelerator,
    devices: int,
    input_tokens: int,
    output_tokens: int,
    efficiency: float,
) -> PhaseModel:
    """Roofline prefill and decode-step times (see the module docstring) for ``devices`` x ``acc``; the
    FLOPs and streamed weights per token are the perfmodel's (capplan.perfmodel.desc)."""
    flops_s = peak_flops(acc, desc.dtype) * devices
    if not acc.mem_bw_gbps:
        raise UserError(f"{acc.name}: no cited memory bandwidth in the catalog; cannot project onto it")
    bytes_s = acc.mem_bw_gbps * 1e9 * devices
    nbytes = DTYPE_BYTES[desc.dtype]
    prefill_flops = desc.flops_per_sample * input_tokens / (desc.seq_len or input_tokens)
    prefill = max(prefill_flops / flops_s, desc.param_count * nbytes / bytes_s) / efficiency
    max_batch = min(
        max_concurrent_sequences(desc, acc, devices, input_tokens + output_tokens), MAX_BATCH_SCAN
    )
    b = np.arange(1, max(max_batch, 1) + 1)
    context = input_tokens + output_tokens / 2  # the mean context over a request's decode
    step_flops = b * desc.decode_flops_per_token(context)
    step_bytes = desc.decode_streamed_params(1) * nbytes + b * kv_bytes_per_sequence(desc, context)
    step = np.maximum(step_flops / flops_s, step_bytes / bytes_s) / efficiency
    return PhaseModel(prefill_s=prefill, step_s=step, max_batch=max_batch)


def projected_rate(
    model: PhaseModel, output_tokens: int, slo: ServeSLO, rel_tol: float = SEARCH_REL_TOL
) -> tuple[float, dict[str, float]] | None:
    """Highest Poisson rate at which the simulated replica (capplan.planner.simulate_llm, with this phase
    model's timings) meets the p99 SLOs, by bisection below the full-batch rate; None when even one
    request alone misses them (its TTFT is a prefill, its TPOT a batch-1 step)."""
    if model.max_batch < 1:
        return None
    alone_ttft_ms, alone_tpot_ms = 1e3 * model.prefill_s, 1e3 * float(model.step_s[0])
    if (slo.ttft_ms is not None and alone_ttft_ms > slo.ttft_ms) or (
        slo.tpot_ms is not None and output_tokens > 1 and alone_tpot_ms > slo.tpot_ms
    ):
        return None
    samples = [unit_gaps(seed=seed) for seed in SIZING_SEEDS]

    def meets(rate: float) -> tuple[bool, dict[str, float]]:
        sims = [
            simulate_llm_replica(rate, model.prefill_s, model.step_s, output_tokens, model.max_batch, gaps=g)
            for g in samples
        ]
        p99s = [sim.p99_ms(upper=True) for sim in sims]
        ttft, tpot = max(p[0] for p in p99s), max(p[1] for p in p99s)
        ok = (slo.ttft_ms is None or ttft <= slo.ttft_ms) and (slo.tpot_ms is None or tpot <= slo.tpot_ms)
        return ok, {
            "batch": float(np.mean([sim.mean_batch for sim in sims])),
            "ttft_p99_ms": ttft,
            "tpot_p99_ms": tpot,
        }

    lo, hi = 0.0, float(model.rate_at(output_tokens).max())  # no queue can sustain more than a full batch
    best = {"batch": 1.0, "ttft_p99_ms": alone_ttft_ms, "tpot_p99_ms": alone_tpot_ms}
    for _ in range(SEARCH_MAX_STEPS):
        mid = (lo + hi) / 2
        ok, found = meets(mid)
        if ok:
            lo, best = mid, found
        else:
            hi = mid
        if hi - lo <= rel_tol * hi:
            break
    return (lo, best) if lo > 0 else None


@dataclass
class Projected:
    """The projection's pieces for one workload on one accelerator."""

    desc: WorkloadDesc
    devices: int
    efficiency: float
    calibration_tier: str
    model: PhaseModel


def project_phases(
    w: Workload, acc: Accelerator, catalog: Catalog, store: Any, memory_devices: int = 1
) -> Projected | str:
    """The workload described at the plan's request shape, devices per replica (memory fit) and the phase
    model at the calibrated efficiency; a reason string when it cannot be projected."""
    from capplan.perfmodel import project
    from capplan.perfmodel.projection import resolve_workload
    from capplan.perfmodel.workloads import canonical_dtype, lookup, named_workload

    ref = w.model.run_id or w.model.workload
    shape = w.request_shape
    assert shape is not None
    if ref is None:
        return (
            f"{w.name} on {acc.name}: no model.workload, model.run_id or model.serve_runs to size by "
            "TTFT/TPOT"
        )
    try:
        if lookup(str(ref)) is not None:  # closed form at the plan's prompt length (attention included)
            desc = named_workload(
                str(ref),
                task="generate",
                dtype=w.model.dtype,
                seq_len=shape.input_tokens,
                gen_tokens=shape.output_tokens,
            )
        else:
            desc, _ = resolve_workload(ref, store)
            desc = desc.model_copy(
                update={
                    "task": "generate",
                    "dtype": canonical_dtype(w.model.dtype),
                    "batch": 1,
                    "gen_tokens": shape.output_tokens,
                }
            )
        if desc.kv_elems_per_token is None:
            return f"{w.name} on {acc.name}: {desc.name} is not a decoder with a KV cache"
        proj = project(desc, acc.name, 1, catalog=catalog, store=store)
        devices = max(proj.min_devices, memory_devices)
        model = phase_model(desc, acc, devices, shape.input_tokens, shape.output_tokens, proj.efficiency)
    except (UserError, ValueError) as exc:
        return f"{w.name} on {acc.name}: cannot project ({exc})"
    return Projected(desc, devices, proj.efficiency, proj.calibration_tier, model)


def capacity_projection(
    w: Workload, acc: Accelerator, catalog: Catalog, store: Any, memory_devices: int = 1
) -> LlmCapacity | str:
    """Per-replica capacity from the prefill/decode projection (calibrated efficiency, KV-cache memory)."""
    found_phases = project_phases(w, acc, catalog, store, memory_devices)
    if isinstance(found_phases, str):
        return found_phases
    desc, devices, model = found_phases.desc, found_phases.devices, found_phases.model
    shape = w.request_shape
    assert shape is not None
    slo = plan_slo(w)
    found = projected_rate(model, shape.output_tokens, slo)
    step1 = 1e3 * float(model.step_s[0]) if model.step_s.size else math.nan
    if found is None:
        return (
            f"{w.name} on {acc.name}: projected prefill {1e3 * model.prefill_s:.3g} ms and decode step "
            f"{step1:.3g} ms (max batch {model.max_batch}) miss {slo.describe()} even at low load"
        )
    rate, at = found
    source = (
        f"projection of {desc.name} onto {devices}x {acc.name} (prefill compute-bound "
        f"{1e3 * model.prefill_s:.3g} ms per {shape.input_tokens}-token prompt; decode bandwidth-bound "
        f"{step1:.3g} ms/step at batch 1; KV cache caps the batch at {model.max_batch}; efficiency "
        f"{found_phases.efficiency:.2f}, tier {found_phases.calibration_tier}): {rate:.4g} requests/s in a "
        "simulation of "
        f"continuous batching, mean batch {at['batch']:.0f}, TTFT p99 {at['ttft_p99_ms']:.3g} ms, TPOT p99 "
        f"{at['tpot_p99_ms']:.3g} ms"
    )
    return LlmCapacity(
        rate_rps=rate,
        devices=devices,
        source=source,
        details={
            "capacity_source": "projection",
            "prefill_ms": 1e3 * model.prefill_s,
            "decode_step_ms_b1": step1,
            "max_batch": model.max_batch,
            "mean_batch": at["batch"],
            "ttft_p99_ms": at["ttft_p99_ms"],
            "tpot_p99_ms": at["tpot_p99_ms"],
            "efficiency": found_phases.efficiency,
            "calibration_tier": found_phases.calibration_tier,
        },
    )


def llm_capacity(
    w: Workload, acc: Accelerator, catalog: Catalog, store: Any, memory_devices: int
) -> LlmCapacity | str:
    """Stored runs on this accelerator when the plan names them, else the projection."""
    for name, selector in w.model.serve_runs.items():
        if catalog.find_accelerator(name) is acc:
            return capacity_from_runs(w, acc, selector, store, memory_devices)
    return capacity_projection(w, acc, catalog, store, memory_devices)


def verify_llm_fit(
    w: Workload, acc: Accelerator, fit: Any, catalog: Catalog, store: Any, quarter: int
) -> dict[str, float] | str:
    """What ``plan --verify`` checks for an LLM fit: the quarter's peak demand spread over the sized
    replicas (spares idle), each simulated under continuous batching with the projection's phase model;
    TTFT and TPOT p99 against the SLOs. A reason string when there is no phase model to simulate (a fit
    sized from measured runs is checked by those runs)."""
    from capplan.planner.simulate_llm import verify_llm_fleet

    found = project_phases(w, acc, catalog, store, int(fit.details["devices_per_replica"]))
    if isinstance(found, str):
        return found
    replicas = int(fit.details["replicas_peak"][quarter])
    peak = float(fit.demand[quarter]) * w.burstiness
    if replicas < 1 or peak <= 0:
        return {"ttft_p99_ms": 0.0, "tpot_p99_ms": 0.0, "meets_slo": 1.0}
    shape = w.request_shape
    assert shape is not None
    model = found.model
    ttft, tpot = verify_llm_fleet(
        peak, replicas, model.prefill_s, model.step_s, shape.output_tokens, model.max_batch, seed=quarter + 1
    )
    slo = plan_slo(w)
    ok = (slo.ttft_ms is None or ttft <= slo.ttft_ms) and (slo.tpot_ms is None or tpot <= slo.tpot_ms)
    return {
        "ttft_p99_ms": ttft,
        "tpot_p99_ms": tpot,
        "meets_slo": float(ok),
        "replicas": float(replicas),
        "peak_rps": peak,
    }
