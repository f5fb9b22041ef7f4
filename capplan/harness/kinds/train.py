"""Training step throughput: forward + backward + optimizer step, over a batch-size sweep.

Reports samples/s (and tokens/s for sequence models), step-time percentiles, peak memory and MFU
(achieved FLOP/s over the device's peak for the compute dtype: the catalog's dense peak on CUDA, a
matmul measured in the same process on CPU; ``peak_source`` says which). Optionally searches the
largest batch whose step fits under a memory limit; when not even the smallest batch fits, the run is
``infeasible`` with the measured peak and the limit in the reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, Field

from capplan.harness.backends import place_model
from capplan.harness.child import is_oom
from capplan.harness.device import device_sync
from capplan.harness.kinds.model_common import PeakMemory, compute_peak_tflops, setup_model
from capplan.harness.metrics import add_metric, append_metric
from capplan.harness.spec import BenchmarkInfeasible, BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.harness.timing import measure
from capplan.results.schema import Metric
from capplan.results.stats import metric_from_samples
from capplan.workloads import WorkloadParams
from capplan.workloads.base import Workload, float_inputs_to

# The batch search on CPU stays under this much extra resident memory unless told otherwise: the
# machine is shared with the harness, the store and often a browser; swapping would ruin every timing.
DEFAULT_CPU_MEMORY_LIMIT_MB = 2048
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # AMP: fp32 master weights, per-op casts


class TrainParams(WorkloadParams):
    batches: list[int] = Field(
        default_factory=lambda: [8], min_length=1, description="micro-batch sizes to sweep"
    )
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step (gradient accumulation)")
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="optimizer taking the step")
    lr: float = Field(1e-4, gt=0, description="learning rate (does not affect speed)")
    find_max_batch: bool = Field(False, description="also search the largest micro-batch that fits in memory")
    max_batch: int = Field(4096, ge=1, description="the batch search stops here")
    memory_limit_mb: float | None = Field(
        None,
        gt=0,
        description="batch search bound on peak memory, MB; default 2048 on CPU, the device's memory on CUDA",
    )


class OutOfMemory(Exception):
    """A trial step did not fit."""


def search_max_batch(
    peak_mb_at: Callable[[int], float], start: int, max_batch: int, limit_mb: float
) -> tuple[int, dict[int, float]]:
    """Largest batch (``start`` doubled) whose step's peak memory stays within ``limit_mb``.

    ``peak_mb_at(batch)`` runs one step and returns its peak memory, or raises OutOfMemory. Before
    each trial, memory is extrapolated linearly from the last two batches; a trial predicted to
    exceed the limit is not run (so the search never pushes the host into swap or the OOM killer).
    Returns the largest fitting batch (0 if none) and the measured peak per tried batch.
    """
    tried: dict[int, float] = {}
    fits = 0
    batch = start
    while batch <= max_batch:
        if len(tried) >= 2:
            (b1, m1), (b2, m2) = list(tried.items())[-2:]
            if m2 + (m2 - m1) / (b2 - b1) * (batch - b2) > limit_mb:
                break
        try:
            peak = peak_mb_at(batch)
        except OutOfMemory:
            break
        tried[batch] = peak
        if peak > limit_mb:
            break
        fits = batch
        batch *= 2
    return fits, tried


class Trainer:
    """One optimizer step over ``grad_accum`` micro-batches, with AMP and optional torch.compile."""

    def __init__(self, workload: Workload, spec: BenchmarkSpec, params: TrainParams) -> None:
        self.workload = workload
        self.device = spec.device
        self.accum = params.grad_accum
        model = workload.model
        self.forward = torch.compile(model) if spec.backend == "compile" else model
        fused = {"fused": True} if spec.device.startswith("cuda") else {}
        self.optimizer = (
            torch.optim.AdamW(model.parameters(), lr=params.lr, **fused)
            if params.optimizer == "adamw"
            else torch.optim.SGD(model.parameters(), lr=params.lr, momentum=0.9)
        )
        amp = AUTOCAST_DTYPES.get(spec.dtype)
        device_type = torch.device(spec.device).type
        self.autocast = (lambda: torch.autocast(device_type, dtype=amp)) if amp else contextlib.nullcontext
        # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range and needs none.
        self.scaler = torch.amp.GradScaler(device_type) if spec.dtype == "fp16" else None

    def batch(self, size: int, g: torch.Generator) -> list[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
        """``grad_accum`` micro-batches of inputs and targets, on the device."""
        w = self.workload
        return [
            (
                float_inputs_to(w.make_inputs(size, g), self.device, torch.float32),
                w.make_targets(size, g).to(self.device),
            )
            for _ in range(self.accum)
        ]

    def step(self, micro_batches: list[tuple[tuple[torch.Tensor, ...], torch.Tensor]]) -> None:
        for inputs, targets in micro_batches:
            with self.autocast():
                loss = self.workload.loss(self.forward(*inputs), targets) / self.accum
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


class TrainKind:
    name: ClassVar[str] = "train"
    task: ClassVar[Task] = "train"
    role: ClassVar[Role] = "model"
    Params: ClassVar[type[BaseModel]] = TrainParams
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "tf32", "bf16", "fp16")
    backends: ClassVar[tuple[str, ...]] = ("eager", "compile")

    def run(self, spec: BenchmarkSpec, params: TrainParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        cuda = spec.device.startswith("cuda")
        if not cuda and spec.dtype in ("fp16", "tf32"):
            raise ValueError(f"train on cpu: dtype {spec.dtype!r}; allowed: fp32, bf16")
        memory = PeakMemory(spec.device)
        memory.baseline()
        setup = setup_model(spec, params, batches=params.batches, grad_accum=params.grad_accum,
                            optimizer=params.optimizer, amp=spec.dtype in AUTOCAST_DTYPES)
        place_model(setup.workload, spec.device, spec.dtype, train=True)
        compute_dtype = "fp32" if spec.dtype == "tf32" and not cuda else spec.dtype
        peak_tflops, peak_source = compute_peak_tflops(spec.device, compute_dtype)
        trainer = Trainer(setup.workload, spec, params)
        g = torch.Generator().manual_seed(spec.seed + 2)
        sync = device_sync(spec.device)
        result = KindResult(metrics=[], config=setup.config)
        per_batch: dict[int, list[float]] = {}
        peak_mb: dict[int, float] = {}
        for batch in params.batches:
            data = trainer.batch(batch, g)
            memory.reset()
            ctx.log(f"{spec.name}: timing batch {batch} x {params.grad_accum}")
            per_batch[batch] = measure(
                lambda d=data: trainer.step(d), budget=spec.budget, sync=sync, per_call=True
            )
            peak_mb[batch] = memory.peak_mb()
        add_train_metrics(result, per_batch, peak_mb, params.grad_accum, peak_tflops, peak_source)
        result.config.update(
            peak_mem_source=memory.source,
            peak_mem_mb_by_batch={str(b): m for b, m in peak_mb.items()},
            mfu_peak_tflops=peak_tflops,
            mfu_peak_source=peak_source,
        )
        if params.find_max_batch:
            limit = params.memory_limit_mb or (
                torch.cuda.get_device_properties(torch.device(spec.device)).total_memory / 1e6 if cuda
                else DEFAULT_CPU_MEMORY_LIMIT_MB
            )
            fits, tried = search_max_batch(
                lambda b: _trial_peak_mb(trainer, memory, b, g, sync),
                min(params.batches),
                params.max_batch,
                limit,
            )
            result.config.update(
                max_batch_limit_mb=limit, max_batch_tried_peak_mb={str(b): m for b, m in tried.items()}
            )
            if not fits:
                start = min(params.batches)
                peak = f"peaked at {tried[start]:.4g} MB" if start in tried else "ran out of memory"
                raise BenchmarkInfeasible(
                    f"no batch fits under the memory limit of {limit:.4g} MB: batch {start} {peak}; raise "
                    "memory_limit_mb or start the search at a smaller batch",
                    result,
                )
            result.metrics.append(Metric(name="max_batch_fits", value=fits, unit="samples"))
        for batch, seconds in per_batch.items():
            add_metric(result, f"step_time_ms_b{batch}", seconds, "ms", scale=1e3, higher_is_better=False)
        return result


def _trial_peak_mb(trainer: Trainer, memory: PeakMemory, batch: int, g: torch.Generator, sync: Any) -> float:
    """Peak memory of one training step at ``batch``; OutOfMemory when it does not fit."""
    try:
        data = trainer.batch(batch, g)
        memory.reset()
        trainer.step(data)
        if sync:
            sync()
        return memory.peak_mb()
    except (MemoryError, RuntimeError) as exc:
        if not is_oom(exc):
            raise
        trainer.optimizer.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise OutOfMemory(str(exc)) from None


def add_train_metrics(
    result: KindResult,
    per_batch: dict[int, list[float]],
    peak_mb: dict[int, float],
    accum: int,
    peak_tflops: float | None,
    peak_source: str | None,
) -> None:
    """Headline metrics at the batch with the highest median samples/s (``best_batch`` in config); a
    step-time percentile the sample count cannot support is noted under config["not_reported"]."""
    config = result.config
    best = max(per_batch, key=lambda b: b / sorted(per_batch[b])[len(per_batch[b]) // 2])
    samples_per_step = best * accum
    seconds = per_batch[best]
    config["best_batch"] = best
    flops_per_step = config["train_flops_per_sample"] * samples_per_step
    achieved = metric_from_samples(
        "achieved_tflops",
        seconds,
        "TFLOP/s",
        scale=flops_per_step / 1e12,
        invert=True,
        peak=peak_tflops,
        peak_source=peak_source,
    )
    result.metrics.append(metric_from_samples(
        "throughput_samples_per_s", seconds, "samples/s", scale=samples_per_step, invert=True
    ))
    if config.get("seq_len"):
        result.metrics.append(metric_from_samples("throughput_tokens_per_s", seconds, "tokens/s",
                                                  scale=samples_per_step * config["seq_len"], invert=True))
    result.metrics.append(
        metric_from_samples("step_time_ms", seconds, "ms", scale=1e3, higher_is_better=False)
    )
    for key in ("p90", "p99"):
        append_metric(result, lambda k=key: metric_from_samples(
            f"step_time_{k}_ms", seconds, "ms", scale=1e3, higher_is_better=False, headline=k))
    result.metrics += [
        achieved, Metric(name="peak_mem_mb", value=peak_mb[best], unit="MB", higher_is_better=False)
    ]
    if peak_tflops:
        keys = ("n", "headline_ci95_rel", "contended_kept", "shifted_kept")
        spread = {k: achieved.stats[k] for k in keys if k in achieved.stats}
        result.metrics.append(Metric(  # achieved / peak: the same relative CI, so the same noise flag
            name="mfu_pct", value=100 * achieved.value / peak_tflops, unit="%", noisy=achieved.noisy,
            stats={"peak_tflops": peak_tflops, **spread}, peak=100.0, peak_source=peak_source))
