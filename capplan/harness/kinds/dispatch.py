"""Per-op dispatch/launch overhead: latency of ops on 1-element tensors -> µs per op.

Calls are batched into rounds (see capplan.harness.timing.MIN_ROUND_S), so each sample is the
mean over a round: this measures sustained dispatch cost, not a single call's tail latency.
On CUDA the spec's own device is synchronised at each round's end, so the figure includes launch + run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from capplan.harness.device import device_sync, select_device
from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.harness.timing import PerfCounterTimer, measure

TinyOp = Literal["add", "relu", "matmul"]


class DispatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ops: list[TinyOp] = Field(default_factory=lambda: ["add"], min_length=1,
                              description="tiny ops to time (add: x+1, relu, matmul: 1x1 @ 1x1)")


def _tiny_ops(torch: Any, device: str) -> dict[str, Callable[[], Any]]:
    x = torch.ones(1, 1, device=device)
    out = torch.empty(1, 1, device=device)
    return {
        "add": lambda: torch.add(x, 1.0, out=out),
        "relu": lambda: torch.relu(x),
        "matmul": lambda: torch.matmul(x, x, out=out),
    }


class DispatchKind:
    name: ClassVar[str] = "dispatch"
    task: ClassVar[Task] = "micro"
    role: ClassVar[Role] = "micro"
    measures: ClassVar[str] = "dispatch_latency"
    Params: ClassVar[type[BaseModel]] = DispatchParams
    dtypes: ClassVar[tuple[str, ...]] = ("fp32",)
    backends: ClassVar[tuple[str, ...]] = ("eager",)

    def run(self, spec: BenchmarkSpec, params: DispatchParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        import torch

        ops = _tiny_ops(torch, str(select_device(spec.device)))
        sync = device_sync(spec.device)
        result = KindResult(metrics=[], config={"tensor_shape": [1, 1]})
        for op in params.ops:
            seconds = measure(ops[op], budget=spec.budget, timer=PerfCounterTimer(sync))
            add_metric(result, f"{op}_latency_us", seconds, "µs", scale=1e6, higher_is_better=False)
        return result
