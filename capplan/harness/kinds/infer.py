"""Inference latency and throughput of a workload on one backend, over a batch-size sweep.

Before anything is timed, the backend's output for a fixed input is checked against eager torch
(np.allclose, tolerance per dtype in capplan.harness.backends.base.TOLERANCES); a mismatch fails the
benchmark. Each batch's per-call latencies are stored raw (``latency_ms_b{B}``); the headline is the
largest throughput whose p99 latency stays within the SLO.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, Field

from capplan.harness.backends import BACKENDS
from capplan.harness.kinds.model_common import PeakMemory, load_backend, setup_model, verify_backend
from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.harness.timing import measure
from capplan.results.schema import Metric
from capplan.results.stats import metric_from_samples
from capplan.workloads import TORCH_DTYPES, WorkloadParams

# 200 ms p99 is a common interactive-serving bound (MLPerf Inference Server latency bounds for BERT
# and ResNet are 130 ms and 15 ms; 200 ms leaves room for CPU-only hosts).
DEFAULT_SLO_P99_MS = 200.0


class InferParams(WorkloadParams):
    batches: list[int] = Field(default_factory=lambda: [1], min_length=1, description="batch sizes to sweep")
    slo_p99_ms: float = Field(DEFAULT_SLO_P99_MS, gt=0, description="p99 latency bound per batch call, ms")
    rtol: float | None = Field(
        None, ge=0, description="output check relative tolerance; the dtype's default if unset"
    )
    atol: float | None = Field(
        None, ge=0, description="output check absolute tolerance; the dtype's default if unset"
    )


class InferKind:
    name: ClassVar[str] = "infer"
    task: ClassVar[Task] = "infer"
    role: ClassVar[Role] = "model"
    Params: ClassVar[type[BaseModel]] = InferParams
    dtypes: ClassVar[tuple[str, ...]] = tuple(TORCH_DTYPES)
    backends: ClassVar[tuple[str, ...]] = tuple(BACKENDS)

    def run(self, spec: BenchmarkSpec, params: InferParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        memory = PeakMemory(spec.device)
        memory.baseline()
        setup = setup_model(spec, params, batches=params.batches, slo_p99_ms=params.slo_p99_ms)
        w = setup.workload
        backend, facts = load_backend(setup, spec)
        try:
            setup.config.update(facts)
            setup.config.update(verify_backend(setup, backend, spec, params.rtol, params.atol))
            result = KindResult(metrics=[], config=setup.config)
            g = torch.Generator().manual_seed(spec.seed + 2)
            per_batch: dict[int, list[float]] = {}
            memory.reset()
            for batch in params.batches:
                prepared = backend.prepare(w.make_inputs(batch, g))
                result.config[f"warmup_s_b{batch}"] = round(backend.warmup(prepared), 4)
                ctx.log(f"{spec.name}: timing batch {batch}")
                per_batch[batch] = measure(
                    lambda p=prepared: backend.run_once(p), budget=spec.budget, sync=backend.sync
                )
            peak_mb = memory.peak_mb()
        finally:
            backend.teardown()
        result.metrics.extend(slo_metrics(per_batch, params.slo_p99_ms, result.config))
        result.metrics.append(Metric(name="peak_mem_mb", value=peak_mb, unit="MB", higher_is_better=False))
        result.config["peak_mem_source"] = memory.source
        for batch, seconds in per_batch.items():
            add_metric(result, f"latency_ms_b{batch}", seconds, "ms", scale=1e3, higher_is_better=False)
            result.metrics.append(  # derived from the latency samples stored just above
                metric_from_samples(
                    f"throughput_samples_per_s_b{batch}", seconds, "samples/s", scale=batch, invert=True
                )
            )
        return result


def slo_metrics(per_batch: dict[int, list[float]], slo_p99_ms: float, config: dict[str, Any]) -> list[Metric]:
    """Headline metrics of a batch sweep (seconds per call per batch): the batch with the highest median
    throughput among those whose p99 latency is within the SLO (the smallest batch if none is), its
    throughput (samples/s, and tokens/s or TFLOP/s where known) and latency percentiles.

    Records ``best_batch``, ``slo_met`` and ``max_batch_under_slo`` in ``config``.
    """
    p99_ms = {b: float(np.percentile(s, 99)) * 1e3 for b, s in per_batch.items()}
    within = [b for b in per_batch if p99_ms[b] <= slo_p99_ms]
    best = max(within, key=lambda b: b / float(np.median(per_batch[b]))) if within else min(per_batch)
    config.update(best_batch=best, slo_met=bool(within), max_batch_under_slo=max(within, default=0))
    seconds = per_batch[best]
    metrics = [
        metric_from_samples("throughput_samples_per_s", seconds, "samples/s", scale=best, invert=True),
        metric_from_samples(
            "latency_p99_ms", seconds, "ms", scale=1e3, higher_is_better=False, headline="p99"
        ),
        metric_from_samples(
            "latency_p50_ms", seconds, "ms", scale=1e3, higher_is_better=False, headline="p50"
        ),
        Metric(name="max_batch_under_slo", value=max(within, default=0), unit="samples"),
    ]
    if config.get("seq_len"):
        metrics.append(metric_from_samples("throughput_tokens_per_s", seconds, "tokens/s",
                                           scale=best * config["seq_len"], invert=True))
    if config.get("flops_per_sample"):
        metrics.append(metric_from_samples("achieved_tflops", seconds, "TFLOP/s",
                                           scale=best * config["flops_per_sample"] / 1e12, invert=True))
    return metrics
