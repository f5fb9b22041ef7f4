"""Benchmark specification and the plugin interface every benchmark kind implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field

from capplan.results.schema import Metric

# What a kind measures, declared by the kind (never guessed from its name). ``micro`` kinds measure a
# device property (FLOP/s, bandwidth, latency); ``serve`` kinds measure a serving endpoint over HTTP
# (whatever hardware is behind it: no workload description, so no roofline calibration); the others
# measure a workload doing that task on this host.
WorkloadTask = Literal["infer", "train", "generate"]
Task = Literal[WorkloadTask, "micro", "serve"]
TASKS: tuple[str, ...] = (*get_args(WorkloadTask), "micro", "serve")
# How a kind runs: ``micro`` (one process, a device property), ``model`` (one process, a workload),
# ``distributed`` (every rank under torchrun; the kind names its per-rank ``worker``), ``client`` (one
# process sending requests to an endpoint elsewhere).
Role = Literal["micro", "model", "distributed", "client"]
ROLES: tuple[str, ...] = get_args(Role)


class Budget(BaseModel):
    """How long to measure. Defaults follow pytest-benchmark/asv practice: bounded warm-up, then
    adaptive rounds until the relative 95% CI of the median is tight or the time budget runs out."""

    model_config = ConfigDict(extra="forbid")

    warmup_min_iters: int = Field(3, ge=0, description="warm-up iterations at least (caches, JIT, allocator)")
    warmup_max_s: float = Field(2.0, gt=0, description="warm-up stops when timings stabilise or after this")
    min_iters: int = Field(10, ge=1, description="timed iterations at least (enough for p50/p90)")
    max_iters: int = Field(10_000, ge=1, description="timed iterations at most")
    min_time_s: float = Field(0.5, ge=0, description="measure at least this long")
    max_time_s: float = Field(5.0, gt=0, description="measure at most this long (excluding warm-up)")
    target_rel_ci: float = Field(
        0.02, gt=0, description="stop when the 95% CI half-width / median is below this"
    )


class BenchmarkSpec(BaseModel):
    """One benchmark in a suite. ``params`` are validated by the kind's own ``Params`` model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="unique name within the suite")
    kind: str = Field(
        min_length=1, description="registry key of the benchmark kind (gemm, membw, infer, ...)"
    )
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="cpu or cuda[:N]")
    dtype: str = Field("fp32", description="fp32, tf32, bf16, fp16, int8 (kinds say which they accept)")
    backend: str = Field("eager", description="eager, compile, onnxruntime (model kinds)")
    params: dict[str, Any] = Field(default_factory=dict, description="kind-specific parameters")
    budget: Budget = Field(default_factory=Budget)
    timeout_s: float = Field(
        120.0, gt=0, description="the subprocess is killed after this and recorded as timeout"
    )
    memory_limit_mb: int | None = Field(
        None,
        gt=0,
        description="memory cap of the subprocess, in MiB above its baseline after importing torch: "
                    "address space (RLIMIT_AS) on cpu, resident set on cuda (CUDA cannot start under "
                    "RLIMIT_AS)",
    )
    seed: int = Field(0, description="seed for synthetic inputs and weights")
    tags: dict[str, str] = Field(default_factory=dict)
    requires: list[str] = Field(
        default_factory=list, description="capabilities needed: cuda, nvml, multi_gpu"
    )


class BenchmarkSkipped(Exception):
    """Raised by a kind (or the runner) when this device/dtype cannot run the benchmark; stored as skipped."""


@dataclass
class RunContext:
    """What a kind gets besides its spec: where to report progress and the telemetry hook."""

    spec: BenchmarkSpec
    log: Callable[[str], None] = print
    extras: dict[str, Any] = field(default_factory=dict)


class KindResult(BaseModel):
    """What a kind returns: headline metrics, raw samples (unit in the key), extra config to store."""

    metrics: list[Metric]
    samples: dict[str, list[float]] = Field(default_factory=dict)
    config: dict[str, Any] = Field(
        default_factory=dict, description="facts to store with the record (model, FLOPs, batch)"
    )


class BenchmarkKind(Protocol):
    """A benchmark kind: a pydantic ``Params`` model and a ``run`` function. One module + one registry line.

    It declares its ``task`` and ``role``; a micro kind also declares what it ``measures`` (e.g.
    ``compute``), a distributed kind the ``worker`` (``module:function``) each rank runs.
    """

    name: ClassVar[str]
    task: ClassVar[Task]
    role: ClassVar[Role]
    Params: ClassVar[type[BaseModel]]

    def run(self, spec: BenchmarkSpec, params: BaseModel, ctx: RunContext) -> KindResult: ...
