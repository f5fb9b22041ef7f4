"""Inference latency and throughput of a workload on one backend, over a batch-size sweep.

Before anything is timed, the backend's output for a fixed input is checked against eager torch
(np.allclose, tolerance per dtype in capplan.harness.backends.base.TOLERANCES); a mismatch fails the
benchmark. Every call is timed on its own (latency percentiles are tails of single calls) and stored
raw (``latency_ms_b{B}``); the headline is the largest throughput whose per-call p99 stays within the
SLO. Batches are timed smallest first; once a batch's median latency misses the SLO, larger batches
are not timed (latency grows with the batch). A p99 needs 100 per-call samples: a batch within the SLO
at the median is timed longer (up to ``p99_max_time_s``) to get them. No batch within the SLO ends the
run as ``infeasible`` with each batch's figures in the reason. ``slo_min_x_smallest`` makes the SLO
host-dependent: at least that multiple of the smallest batch's median latency (rule and value recorded
as ``slo_rule`` and ``slo_p99_ms``).
"""

from __future__ import annotations

import statistics
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, Field

from capplan.harness.backends import BACKENDS
from capplan.harness.kinds.model_common import PeakMemory, load_backend, setup_model, verify_backend
from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkInfeasible, BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.harness.timing import measure
from capplan.results.schema import Metric
from capplan.results.stats import Samples, metric_from_samples, min_samples
from capplan.workloads import TORCH_DTYPES, WorkloadParams

# 200 ms p99 is a common interactive-serving bound (MLPerf Inference Server latency bounds for BERT
# and ResNet are 130 ms and 15 ms; 200 ms leaves room for CPU-only hosts).
DEFAULT_SLO_P99_MS = 200.0
SLO_QUANTILE = 0.99
P99_SAMPLES = min_samples(SLO_QUANTILE)  # 100 per-call samples before a p99 is trusted (stats rule)
# 60 s of extra timing per batch reaches 100 calls for calls up to 0.6 s: BERT-base at batch 1 on a
# 2-core CPU takes ~0.15 s quiet and 2-4x that on a busy shared host.
DEFAULT_P99_MAX_TIME_S = 60.0


class InferParams(WorkloadParams):
    batches: list[int] = Field(default_factory=lambda: [1], min_length=1, description="batch sizes to sweep")
    slo_p99_ms: float = Field(DEFAULT_SLO_P99_MS, gt=0, description="p99 latency bound per batch call, ms")
    rtol: float | None = Field(
        None, ge=0, description="output check relative tolerance; the dtype's default if unset"
    )
    atol: float | None = Field(
        None, ge=0, description="output check absolute tolerance; the dtype's default if unset"
    )
    stop_at_slo: bool = Field(
        True, description="skip batches larger than one whose median latency already misses the SLO"
    )
    slo_min_x_smallest: float | None = Field(
        None, ge=1,
        description="raise slo_p99_ms to at least this multiple of the smallest batch's median latency "
                    "(a host-dependent bound; the rule and the SLO used are recorded)",
    )
    p99_max_time_s: float = Field(
        DEFAULT_P99_MAX_TIME_S, gt=0,
        description="time a batch within the SLO at the median up to this long (s) for 100 per-call samples",
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
            per_batch: dict[int, Samples] = {}
            memory.reset()
            slo_ms = params.slo_p99_ms
            for batch in sorted(set(params.batches)):
                last = max(per_batch, default=None)
                missed = last is not None and _median_ms(per_batch[last]) > slo_ms
                if missed and params.stop_at_slo:
                    result.config.setdefault("batches_not_timed", {})[str(batch)] = (
                        f"batch {last} median {_median_ms(per_batch[last]):.4g} ms already misses the p99 "
                        f"SLO {slo_ms:.4g} ms"
                    )
                    continue
                prepared = backend.prepare(w.make_inputs(batch, g))
                result.config[f"warmup_s_b{batch}"] = round(backend.warmup(prepared), 4)
                ctx.log(f"{spec.name}: timing batch {batch}")
                call = lambda p=prepared: backend.run_once(p)  # noqa: E731
                first = measure(call, budget=spec.budget, sync=backend.sync, per_call=True)
                if not per_batch and params.slo_min_x_smallest:  # the rule needs the smallest batch's median
                    slo_ms = _host_slo(params, _median_ms(first), batch, result.config)
                per_batch[batch] = _top_up(first, call, spec, params, backend.sync, slo_ms)
            peak_mb = memory.peak_mb()
        finally:
            backend.teardown()
        result.metrics.append(Metric(name="peak_mem_mb", value=peak_mb, unit="MB", higher_is_better=False))
        result.config["peak_mem_source"] = memory.source
        for batch, seconds in per_batch.items():
            add_metric(result, f"latency_ms_b{batch}", seconds, "ms", scale=1e3, higher_is_better=False)
            result.metrics.append(  # derived from the latency samples stored just above
                metric_from_samples(
                    f"throughput_samples_per_s_b{batch}", seconds, "samples/s", scale=batch, invert=True
                )
            )
        add_slo_metrics(result, per_batch, slo_ms)
        return result


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def _host_slo(params: InferParams, smallest_median_ms: float, batch: int, config: dict[str, Any]) -> float:
    """The SLO under ``slo_min_x_smallest``: max(slo_p99_ms, factor x smallest batch's median), recorded."""
    factor = params.slo_min_x_smallest or 1.0
    slo_ms = max(params.slo_p99_ms, factor * smallest_median_ms)
    config["slo_rule"] = (f"max(slo_p99_ms {params.slo_p99_ms:g} ms, {factor:g} x batch {batch} median "
                          f"{smallest_median_ms:.4g} ms) = {slo_ms:.4g} ms")
    return slo_ms


def _top_up(first: Samples, call: Any, spec: BenchmarkSpec, params: InferParams, sync: Any,
            slo_ms: float) -> Samples:
    """``first`` per-call seconds, timed further up to P99_SAMPLES calls when the median is within the SLO."""
    missing = P99_SAMPLES - len(first)
    if missing <= 0 or _median_ms(first) > slo_ms:
        return first
    more = measure(call, sync=sync, per_call=True, budget=spec.budget.model_copy(update={
        "warmup_min_iters": 0, "warmup_max_s": 1e-3, "min_iters": missing, "max_iters": max(missing, 1),
        "min_time_s": 0.0, "max_time_s": params.p99_max_time_s, "target_rel_ci": 1e-9}))
    return first.joined(more)


def slo_verdict(batch: int, seconds: list[float], slo_p99_ms: float) -> tuple[str, str]:
    """("meets" | "misses" | "undetermined", the figures behind it) for one batch's per-call seconds. Calls
    kept although other processes used the CPU meanwhile are counted in the text; a median or p99 above the
    SLO with such calls in it is undetermined (the slowness may be theirs), not a miss."""
    n = len(seconds)
    kept = getattr(seconds, "contended_kept", 0)
    of_n = f"n={n}" + (f", {kept} under host contention" if kept else "")
    med = _median_ms(seconds)
    if med > slo_p99_ms:  # with calls under host contention the slowness may be the other processes'
        word, rerun = ("undetermined", "; rerun on a quieter host") if kept else ("misses", "")
        return word, f"batch {batch}: median {med:.4g} ms > {slo_p99_ms:g} ms ({of_n}){rerun}"
    if n < P99_SAMPLES:
        return "undetermined", (f"batch {batch}: not enough samples for p99 (n={n}; needs {P99_SAMPLES}); "
                                "raise p99_max_time_s")
    p99 = float(np.percentile(seconds, 100 * SLO_QUANTILE)) * 1e3
    if p99 <= slo_p99_ms:
        return "meets", f"batch {batch}: p99 {p99:.4g} ms <= {slo_p99_ms:g} ms ({of_n})"
    if kept:  # the tail may be the other processes': not proof that this host cannot meet the SLO
        return "undetermined", (f"batch {batch}: p99 {p99:.4g} ms > {slo_p99_ms:g} ms ({of_n}); rerun on a "
                                "quieter host")
    return "misses", f"batch {batch}: p99 {p99:.4g} ms > {slo_p99_ms:g} ms ({of_n})"


def add_slo_metrics(result: KindResult, per_batch: dict[int, Samples], slo_p99_ms: float) -> None:
    """Headline metrics of a batch sweep (seconds per call per batch), put first in ``result.metrics``: the
    batch with the highest median throughput among those whose per-call p99 is within the SLO, its
    throughput (samples/s, and tokens/s or TFLOP/s where known) and latency percentiles.

    Records ``best_batch``, ``max_batch_under_slo`` and each batch's verdict (``slo_verdicts``) in the
    config. No batch within the SLO: BenchmarkInfeasible (every batch misses) or RuntimeError (a p99 could
    not be established), naming each batch's figures.
    """
    config = result.config
    verdicts = {b: slo_verdict(b, s, slo_p99_ms) for b, s in sorted(per_batch.items())}
    config["slo_p99_ms"] = slo_p99_ms
    config["slo_verdicts"] = {str(b): text for b, (_, text) in verdicts.items()}
    within = [b for b, (word, _) in verdicts.items() if word == "meets"]
    if not within:
        detail = "; ".join(text for _, text in verdicts.values())
        skipped = config.get("batches_not_timed")
        more = f"; larger batches not timed ({', '.join(skipped)})" if skipped else ""
        if any(word == "undetermined" for word, _ in verdicts.values()):
            raise RuntimeError(f"p99 SLO {slo_p99_ms:g} ms undetermined: {detail}{more}")
        raise BenchmarkInfeasible(
            f"no batch meets the p99 SLO of {slo_p99_ms:g} ms: {detail}{more}; raise slo_p99_ms or time "
            f"smaller batches",
            result,
        )
    best = max(within, key=lambda b: b / statistics.median(per_batch[b]))
    config.update(best_batch=best, max_batch_under_slo=max(within))
    seconds = per_batch[best]
    metrics = [
        metric_from_samples("throughput_samples_per_s", seconds, "samples/s", scale=best, invert=True),
        metric_from_samples(
            "latency_p99_ms", seconds, "ms", scale=1e3, higher_is_better=False, headline="p99"
        ),
        metric_from_samples(
            "latency_p50_ms", seconds, "ms", scale=1e3, higher_is_better=False, headline="p50"
        ),
        Metric(name="max_batch_under_slo", value=max(within), unit="samples"),
    ]
    if config.get("seq_len"):
        metrics.append(metric_from_samples("throughput_tokens_per_s", seconds, "tokens/s",
                                           scale=best * config["seq_len"], invert=True))
    if config.get("flops_per_sample"):
        metrics.append(metric_from_samples("achieved_tflops", seconds, "TFLOP/s",
                                           scale=best * config["flops_per_sample"] / 1e12, invert=True))
    result.metrics[:0] = metrics
