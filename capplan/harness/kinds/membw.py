"""Memory bandwidth following STREAM's rules: copy, scale, add, triad -> GB/s (1e9 bytes/s).

Rules kept from STREAM (McCalpin): each array is at least 4x the last-level cache so no pass is
served from cache; bytes are counted as STREAM counts them (copy/scale 2 arrays, add/triad 3;
write-allocate traffic not counted); the reported best rate excludes the first pass (here: all
warm-up passes). The median rate is reported beside it. Outputs are written in place (out=) so
no allocation is timed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from capplan.harness.device import cuda_index, select_device
from capplan.harness.kinds.peaks import memory_bw_peak
from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.harness.timing import measure, timer_for
from capplan.results.stats import metric_from_samples

Op = Literal["copy", "scale", "add", "triad"]
ARRAYS_TOUCHED: dict[str, int] = {"copy": 2, "scale": 2, "add": 3, "triad": 3}
STREAM_SCALAR = 3.0  # STREAM's q
LLC_MULTIPLE = 4  # STREAM: each array >= 4x the size of the last-level cache(s)
FALLBACK_LLC_BYTES = 64 * 2**20  # when the cache size cannot be read: assume a large (64 MiB) LLC


class MembwParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ops: list[Op] = Field(default_factory=lambda: ["triad", "copy", "scale", "add"], min_length=1,
                          description="STREAM kernels to run; the first is the headline")
    array_mib: float | None = Field(
        None, gt=0, description="size of each array in MiB; default 4x the last-level cache"
    )


def cpu_llc_bytes() -> int | None:
    """Size of the largest-level CPU cache from sysfs, or None."""
    best: tuple[int, int] | None = None
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        factor = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        size = int(text.rstrip("KMG")) * factor
        best = max(best or (level, size), (level, size))
    return best[1] if best else None


def llc_bytes(torch: Any, device: str) -> int:
    if device.startswith("cuda"):
        return int(torch.cuda.get_device_properties(cuda_index(device)).L2_cache_size)
    return cpu_llc_bytes() or FALLBACK_LLC_BYTES


def _kernels(torch: Any, a: Any, b: Any, c: Any) -> dict[str, Callable[[], Any]]:
    q = STREAM_SCALAR
    return {
        "copy": lambda: c.copy_(a),  # c = a
        "scale": lambda: torch.mul(c, q, out=b),  # b = q*c
        "add": lambda: torch.add(a, b, out=c),  # c = a + b
        "triad": lambda: torch.add(b, c, alpha=q, out=a),  # a = b + q*c
    }


class MembwKind:
    name: ClassVar[str] = "membw"
    task: ClassVar[Task] = "micro"
    role: ClassVar[Role] = "micro"
    measures: ClassVar[str] = "memory_bandwidth"
    Params: ClassVar[type[BaseModel]] = MembwParams
    dtypes: ClassVar[tuple[str, ...]] = ("fp64", "fp32")
    backends: ClassVar[tuple[str, ...]] = ("eager",)

    def run(self, spec: BenchmarkSpec, params: MembwParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        import torch

        select_device(spec.device)
        tdtype = {"fp64": torch.float64, "fp32": torch.float32}[spec.dtype]
        elem = torch.tensor([], dtype=tdtype).element_size()
        llc = llc_bytes(torch, spec.device)
        array_bytes = int(params.array_mib * 2**20) if params.array_mib else LLC_MULTIPLE * llc
        n = array_bytes // elem
        a, b, c = (torch.full((n,), v, dtype=tdtype, device=spec.device) for v in (1.0, 2.0, 0.0))
        kernels = _kernels(torch, a, b, c)
        peak, peak_source = memory_bw_peak(spec.device)
        result = KindResult(metrics=[], config={"array_bytes": n * elem, "elements": n, "llc_bytes": llc,
                                                "arrays_ge_4x_llc": n * elem >= LLC_MULTIPLE * llc})
        timer = timer_for(spec.device)
        for op in params.ops:
            seconds = measure(kernels[op], budget=spec.budget, timer=timer)
            scale = ARRAYS_TOUCHED[op] * n * elem / 1e9
            common: dict[str, Any] = {
                "scale": scale,
                "invert": True,
                "peak": peak,
                "peak_source": peak_source,
            }
            add_metric(result, f"{op}_gbps", seconds, "GB/s", **common)
            result.metrics.append(
                metric_from_samples(f"{op}_best_gbps", seconds, "GB/s", headline="max", **common)
            )
        return result
