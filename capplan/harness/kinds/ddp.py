"""Data-parallel training scaling: DistributedDataParallel throughput at N ranks vs one rank.

Under an initialised process group (torchrun), every rank trains the same model on its own batch.
The 1-rank baseline is measured in the same run, before DDP starts: rank 0 trains a plain copy of
the model alone (same per-rank batch, threads and device) while the other ranks wait at a barrier.

    throughput_N = N * batch / step_time_N      throughput_1 = batch / step_time_1
    scaling efficiency = throughput_N / (N * throughput_1) = step_time_1 / step_time_N

Step counts are fixed, like nccl-tests' -w/-n: every rank must run the same number of steps, so an
adaptive stopping rule would need agreement between ranks on every iteration.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSkipped, BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.workloads import WorkloadParams

# Plain SGD with a small learning rate: the optimizer step costs little next to forward/backward
# (as in large-model training), and random data cannot drive the weights to inf/NaN in a few steps.
SGD_LR = 1e-4


class DdpParams(WorkloadParams):
    """Model (as every model kind), per-rank batch and the fixed step counts."""

    batch_size: int = Field(32, ge=1, description="samples per rank per step")
    warmup_steps: int = Field(3, ge=1, description="untimed steps (allocator, DDP bucket set-up)")
    steps: int = Field(10, ge=2, description="timed steps, for the baseline and for DDP each")
    world_size: int = Field(2, ge=1, le=64, description="local ranks when run from a suite without --nproc")


def train_under_group(
    spec: BenchmarkSpec, params: DdpParams, rank: int, world: int, device: str
) -> KindResult | None:
    """Measure the baseline (rank 0) and the DDP steps (all ranks); rank 0 returns the result."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from capplan.harness.device import device_sync
    from capplan.workloads import build_workload, torch_dtype
    from capplan.workloads.base import float_inputs_to

    dtype = torch_dtype(spec.dtype)
    workload = build_workload(params, spec.seed)  # same seed: identical weights on every rank
    model = workload.model.to(device=device, dtype=dtype)
    gen = torch.Generator().manual_seed(spec.seed + rank)  # each rank its own data, as in real DP
    inputs = float_inputs_to(workload.make_inputs(params.batch_size, gen), device, dtype)
    targets = workload.make_targets(params.batch_size, gen).to(device)
    sync = device_sync(device) or (lambda: None)

    def steps(module: Any, n: int) -> list[float]:
        opt = torch.optim.SGD(module.parameters(), lr=SGD_LR)
        times = []
        for _ in range(n):
            sync()
            t0 = time.perf_counter_ns()
            opt.zero_grad(set_to_none=True)
            workload.loss(module(*inputs), targets).backward()
            opt.step()
            sync()
            times.append((time.perf_counter_ns() - t0) * 1e-9)
        return times

    single: list[float] = []
    if rank == 0:
        alone = copy.deepcopy(model)
        steps(alone, params.warmup_steps)
        single = steps(alone, params.steps)
        del alone
    dist.barrier()
    ddp = DistributedDataParallel(
        model, device_ids=[torch.device(device).index] if device.startswith("cuda") else None
    )
    steps(ddp, params.warmup_steps)
    dist.barrier()
    mine = steps(ddp, params.steps)
    # A DDP step ends when the slowest rank's gradients are reduced: keep the slowest rank per step.
    slowest = torch.tensor(mine, dtype=torch.float64, device=device)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    if rank != 0:
        return None
    return ddp_result(params, world, single, slowest.tolist(), workload.name)


def ddp_result(
    params: DdpParams, world: int, single_s: list[float], ddp_s: list[float], model: str
) -> KindResult:
    """Metrics from per-step seconds: scaling efficiency first (the headline), throughputs, step time."""
    result = KindResult(metrics=[], config={
        "model": model, "world_size": world, "batch_per_rank": params.batch_size,
        "global_batch": world * params.batch_size, "steps": params.steps, "warmup_steps": params.warmup_steps,
        "baseline": "rank 0 alone, same per-rank batch, threads and device, measured in this run before DDP",
        "timing": "slowest rank per DDP step",
    })
    t1 = statistics.median(single_s)
    # per DDP step: t1 / t_N, in percent; the median of these is median(t1) / median(t_N)
    add_metric(result, "ddp_scaling_efficiency_pct", ddp_s, "%", scale=100.0 * t1, invert=True)
    add_metric(
        result,
        "ddp_throughput_samples_per_s",
        ddp_s,
        "samples/s",
        scale=world * params.batch_size,
        invert=True,
    )
    add_metric(
        result, "single_throughput_samples_per_s", single_s, "samples/s", scale=params.batch_size, invert=True
    )
    add_metric(result, "ddp_step_ms", ddp_s, "ms", scale=1e3, higher_is_better=False)
    return result


class DdpKind:
    """Suite entry point: runs ``world_size`` local ranks through torchrun (see capplan.harness.launch)."""

    name: ClassVar[str] = "ddp"
    task: ClassVar[Task] = "train"
    role: ClassVar[Role] = "distributed"
    worker: ClassVar[str] = "capplan.harness.kinds.ddp:train_under_group"
    Params: ClassVar[type[BaseModel]] = DdpParams
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "bf16")
    backends: ClassVar[tuple[str, ...]] = ("eager",)

    def run(self, spec: BenchmarkSpec, params: DdpParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        import torch

        from capplan.harness.launch import LaunchOptions, run_distributed
        from capplan.harness.runner import PlannedBenchmark

        gpus = torch.cuda.device_count() if spec.device.startswith("cuda") else None
        if gpus is not None and gpus < params.world_size:
            raise BenchmarkSkipped(f"world_size {params.world_size} needs one GPU per rank; {gpus} visible")
        item = PlannedBenchmark(spec, params.model_dump(mode="json"))
        outcome = run_distributed([item], LaunchOptions(nproc=params.world_size))[0]
        if outcome is None or outcome.result is None:
            raise RuntimeError((outcome and outcome.error) or "torchrun returned no result")
        return KindResult.model_validate(outcome.result)
