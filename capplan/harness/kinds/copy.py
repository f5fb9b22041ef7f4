"""Host<->device and device<->device copy bandwidth over a size sweep (GPU only) -> GB/s.

Pinned (page-locked) and pageable host buffers are measured separately. Bytes are counted once per
copy: the buffer's size over the copy's time, as nvbandwidth counts them and as CUDA's bandwidthTest
counts host<->device copies. For device-to-device, bandwidthTest counts the bytes twice (each byte
is read and written in device memory), so its D2D figure is 2x capplan's ``d2d`` for the same copy;
compare ``d2d`` x 2 with the device-memory bandwidth peak. CUDA events time each copy and the
reported value is the median (nvbandwidth's convention).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from capplan.harness.device import select_device
from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSkipped, BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.harness.timing import CudaEventTimer, measure

Direction = Literal["h2d", "d2h", "d2d"]
HostMemory = Literal["pinned", "pageable"]


class CopyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directions: list[Direction] = Field(default_factory=lambda: ["h2d", "d2h", "d2d"], min_length=1)
    sizes_mib: list[float] = Field(default_factory=lambda: [1.0, 16.0, 256.0], min_length=1,
                                   description="bytes per copy, MiB; the largest is the headline")
    host_memory: list[HostMemory] = Field(default_factory=lambda: ["pinned", "pageable"], min_length=1)


def _copy_call(torch: Any, direction: str, memory: str, nbytes: int, device: str) -> Callable[[], Any]:
    dev = torch.empty(nbytes, dtype=torch.uint8, device=device)
    if direction == "d2d":
        other = torch.empty_like(dev)
        return lambda: other.copy_(dev, non_blocking=True)
    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=memory == "pinned")
    if direction == "h2d":
        return lambda: dev.copy_(host, non_blocking=True)
    return lambda: host.copy_(dev, non_blocking=True)


class CopyKind:
    name: ClassVar[str] = "copy"
    task: ClassVar[Task] = "micro"
    role: ClassVar[Role] = "micro"
    measures: ClassVar[str] = "host_device_copy"
    Params: ClassVar[type[BaseModel]] = CopyParams
    backends: ClassVar[tuple[str, ...]] = ("eager",)

    def run(self, spec: BenchmarkSpec, params: CopyParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        if not spec.device.startswith("cuda"):
            raise BenchmarkSkipped("copy measures host<->device transfers: needs a CUDA device")
        import torch

        select_device(spec.device)
        result = KindResult(metrics=[], config={
            "bytes_rule": "bytes transferred once per copy (bandwidthTest reports 2x for d2d: read + write)"
        })
        cases = [
            (d, m) for d in params.directions for m in (["device"] if d == "d2d" else params.host_memory)
        ]
        for size in sorted(params.sizes_mib, reverse=True):
            nbytes = int(size * 2**20)
            for direction, memory in cases:
                call = _copy_call(torch, direction, memory, nbytes, spec.device)
                seconds = measure(call, budget=spec.budget, timer=CudaEventTimer(spec.device))
                label = direction if direction == "d2d" else f"{direction}_{memory}"
                add_metric(
                    result, f"{label}_{size:g}mib_gbps", seconds, "GB/s", scale=nbytes / 1e9, invert=True
                )
                del call
        return result
