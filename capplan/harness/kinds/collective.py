"""Collective bandwidth via torch.distributed, reported like nccl-tests: algbw and busbw in GB/s.

``size`` is nccl-tests' size: bytes of the full buffer (the all-gather output, the reduce-scatter
input). algbw = size / time; busbw = algbw * factor with nccl-tests' factors (PERFORMANCE.md):
all_reduce 2(n-1)/n, all_gather and reduce_scatter (n-1)/n, broadcast 1.
``run_collective`` works under any initialised process group (local ranks here, torchrun for
multi-node); ``CollectiveKind`` spawns ``world_size`` local ranks itself (gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from capplan.hardware import placement
from capplan.harness.device import device_sync
from capplan.harness.metrics import add_metric, record_placement
from capplan.harness.spec import BenchmarkSkipped, BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.results.stats import metric_from_samples

Op = Literal["all_reduce", "all_gather", "reduce_scatter", "broadcast"]


def bus_factor(op: str, world_size: int) -> float:
    """nccl-tests' busbw / algbw factor for ``op`` on ``world_size`` ranks."""
    n = world_size
    return {
        "all_reduce": 2 * (n - 1) / n,
        "all_gather": (n - 1) / n,
        "reduce_scatter": (n - 1) / n,
        "broadcast": 1.0,
    }[op]


def size_label(nbytes: int) -> str:
    """4096 -> '4kib', 16777216 -> '16mib', 100 -> '100b' (for metric names)."""
    for unit, factor in (("gib", 2**30), ("mib", 2**20), ("kib", 2**10)):
        if nbytes % factor == 0:
            return f"{nbytes // factor}{unit}"
    return f"{nbytes}b"


class CollectiveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ops: list[Op] = Field(default_factory=lambda: ["all_reduce"], min_length=1)
    sizes_bytes: list[int] = Field(default_factory=lambda: [4096, 2**20, 16 * 2**20], min_length=1,
                                   description="nccl-tests 'size' per op, bytes (multiple of 4 * world_size)")
    world_size: int = Field(2, ge=1, le=64, description="local ranks to spawn")
    warmup_iters: int = Field(5, ge=0, description="untimed iterations per size (nccl-tests -w default)")
    iters: int = Field(20, ge=1, description="timed iterations per size (nccl-tests -n default)")

    @model_validator(mode="after")
    def _divisible(self) -> CollectiveParams:
        check_sizes(self.sizes_bytes, self.world_size)
        return self


def check_sizes(sizes_bytes: list[int], world_size: int) -> None:
    """ValueError unless every size splits into whole fp32 elements per rank of ``world_size``."""
    step = 4 * world_size
    bad = [s for s in sizes_bytes if s <= 0 or s % step]
    if bad:
        raise ValueError(f"sizes_bytes: {bad[0]} is not a positive multiple of 4 * world_size = {step}")


def _call(
    torch: Any, dist: Any, op: str, nbytes: int, world: int, device: str, dtype: Any
) -> Callable[[], Any]:
    """One collective on preallocated buffers."""
    count = nbytes // torch.tensor([], dtype=dtype).element_size()
    full = torch.ones(count, dtype=dtype, device=device)
    part = torch.ones(count // world, dtype=dtype, device=device)
    if op == "all_reduce":
        return lambda: dist.all_reduce(full)
    if op == "broadcast":
        return lambda: dist.broadcast(full, src=0)
    if op == "all_gather":
        gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
        return lambda: gather(full, part)
    scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    return lambda: scatter(part, full)


def run_collective(
    op: str,
    sizes: list[int],
    world_size: int,
    rank: int,
    *,
    device: str = "cpu",
    dtype: str = "fp32",
    warmup_iters: int = 5,
    iters: int = 20,
) -> dict[int, list[float]]:
    """Seconds per iteration of ``op`` for each size, under the already initialised process group.

    Each iteration is timed on every rank (device synchronised before the clock is read); the
    sample is the slowest rank's time, since a collective ends when its last rank does.
    """
    import torch
    import torch.distributed as dist

    if dist.get_world_size() != world_size or dist.get_rank() != rank:
        raise ValueError(
            f"process group is rank {dist.get_rank()} of {dist.get_world_size()}, not {rank} of {world_size}"
        )
    tdtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    sync = device_sync(device) or (lambda: None)
    out: dict[int, list[float]] = {}
    for nbytes in sizes:
        call = _call(torch, dist, op, nbytes, world_size, device, tdtype)
        for _ in range(warmup_iters):
            call()
        sync()
        dist.barrier()
        times = []
        for _ in range(iters):
            t0 = time.perf_counter_ns()
            call()
            sync()
            times.append((time.perf_counter_ns() - t0) * 1e-9)
        slowest = torch.tensor(times, dtype=torch.float64, device=device)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        out[nbytes] = slowest.tolist()
    return out


def free_port() -> int:
    """A TCP port on the loopback interface that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank_main(rank: int, job: dict[str, Any]) -> None:
    """One spawned rank: join the group, run every op, rank 0 writes the samples as JSON."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(job["threads"])
    device = f"cuda:{rank}" if job["backend"] == "nccl" else "cpu"
    if job["backend"] == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(job["backend"], init_method=f"tcp://127.0.0.1:{job['port']}", rank=rank,
                            world_size=job["world_size"], timeout=timedelta(seconds=job["timeout_s"]))
    try:
        p = job["params"]
        results = {
            op: run_collective(
                op,
                p["sizes_bytes"],
                job["world_size"],
                rank,
                device=device,
                dtype=job["dtype"],
                warmup_iters=p["warmup_iters"],
                iters=p["iters"],
            )
            for op in p["ops"]
        }
    finally:
        dist.destroy_process_group()
    if rank == 0:
        Path(job["out"]).write_text(json.dumps(results))


class CollectiveKind:
    name: ClassVar[str] = "collective"
    task: ClassVar[Task] = "micro"
    role: ClassVar[Role] = "distributed"
    measures: ClassVar[str] = "collective_bandwidth"
    worker: ClassVar[str] = "capplan.harness.dist_worker:collective_under_group"
    Params: ClassVar[type[BaseModel]] = CollectiveParams
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "bf16")
    backends: ClassVar[tuple[str, ...]] = ("eager",)

    def run(self, spec: BenchmarkSpec, params: CollectiveParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        import torch
        import torch.multiprocessing as tmp

        cuda = spec.device.startswith("cuda")
        if cuda and torch.cuda.device_count() < params.world_size:
            raise BenchmarkSkipped(
                f"world_size {params.world_size} needs as many GPUs; {torch.cuda.device_count()} visible"
            )
        backend = "nccl" if cuda else "gloo"
        with tempfile.TemporaryDirectory(prefix="capplan-coll-") as tmpdir:
            job = {
                "backend": backend,
                "port": free_port(),
                "world_size": params.world_size,
                "dtype": spec.dtype,
                "params": params.model_dump(),
                "out": str(Path(tmpdir) / "samples.json"),
                "threads": max(1, torch.get_num_threads() // params.world_size),
                "timeout_s": spec.timeout_s,
            }
            # fork is cheap and safe on CPU (no threads started yet); CUDA cannot be forked into.
            def ranks() -> dict[str, Any]:
                job["port"] = free_port()  # a fresh rendezvous port for each (re)run
                tmp.start_processes(_rank_main, args=(job,), nprocs=params.world_size, join=True,
                                    start_method="spawn" if cuda else "fork")
                return json.loads(Path(job["out"]).read_text())

            samples, reruns, placed = placement.run_in_reference(ranks, device=spec.device)
        result = KindResult(
            metrics=[],
            config={
                "backend": backend,
                "world_size": params.world_size,
                "threads_per_rank": job["threads"],
                "timing": "slowest rank per iteration",
            },
        )
        for op in params.ops:
            factor = bus_factor(op, params.world_size)
            for nbytes in sorted(params.sizes_bytes, reverse=True):
                seconds = samples[op][str(nbytes)]
                label = size_label(nbytes)
                add_metric(
                    result,
                    f"{op}_busbw_gbps_{label}",
                    seconds,
                    "GB/s",
                    scale=nbytes * factor / 1e9,
                    invert=True,
                )
                result.metrics.append(metric_from_samples(f"{op}_algbw_gbps_{label}", seconds, "GB/s",
                                                          scale=nbytes / 1e9, invert=True))
        record_placement(result, reruns, placed)
        return result
