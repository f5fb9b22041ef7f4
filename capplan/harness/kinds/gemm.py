"""GEMM throughput: C = A @ B for square and LLM-shaped matrices -> TFLOP/s (2*M*N*K per call).

fp8 runs ``torch._scaled_mm`` (e4m3 inputs, unit scales, bf16 output). By default it accumulates in
full fp32 precision, which lands below the datasheet's fp8 peak; ``fp8_fast_accum: true`` uses the
fast (lower-precision) accumulation that datasheet peaks and most fp8 training recipes' forward
GEMMs assume. The record says which (``fp8_fast_accum`` in its config).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from capplan.harness.device import cuda_index, select_device
from capplan.harness.kinds.peaks import compute_peak
from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSkipped, BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.harness.timing import measure, timer_for

CPU_DTYPES = ("fp32", "bf16")  # fp16 GEMM on CPU falls back to slow reference kernels: not worth timing
CUDA_DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")
FP8_MIN_CAPABILITY = (8, 9)  # Ada / Hopper and newer have FP8 tensor cores


class GemmParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shapes: list[tuple[int, int, int]] = Field(
        default_factory=lambda: [(1024, 1024, 1024)],
        min_length=1,
        description="[M, N, K] per matmul (A is MxK, B is KxN); the first is the headline",
    )
    fp8_fast_accum: bool = Field(
        False, description="fp8 only: fast accumulation (datasheet peak) instead of full fp32 accumulation"
    )


def gemm_operands(
    torch: Any, dtype: str, m: int, n: int, k: int, device: str, fast_accum: bool = False
) -> Callable[[], Any]:
    """Allocate inputs and output once; return a call that runs one GEMM into the output (also used by
    benchmarks/gpu_probe.py, so the probe's bare loop times exactly the harness's call)."""
    if dtype == "int8":
        a = torch.randint(-128, 127, (m, k), dtype=torch.int8, device=device)
        b = torch.randint(-128, 127, (k, n), dtype=torch.int8, device=device)
        c = torch.empty((m, n), dtype=torch.int32, device=device)
        return lambda: torch._int_mm(a, b, out=c)
    if dtype == "fp8":
        a = torch.randn(m, k, device=device).to(torch.float8_e4m3fn)
        b = torch.randn(n, k, device=device).to(torch.float8_e4m3fn).t()  # column-major B, as cuBLASLt wants
        one = torch.tensor(1.0, device=device)
        out = torch.empty((m, n), dtype=torch.bfloat16, device=device)
        return lambda: torch._scaled_mm(
            a, b, one, one, out_dtype=torch.bfloat16, use_fast_accum=fast_accum, out=out
        )
    tdtype = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[
        dtype
    ]
    a = torch.randn(m, k, device=device, dtype=tdtype)
    b = torch.randn(k, n, device=device, dtype=tdtype)
    c = torch.empty(m, n, device=device, dtype=tdtype)
    return lambda: torch.matmul(a, b, out=c)


def _check_dtype(torch: Any, dtype: str, device: str) -> None:
    if device == "cpu":
        if dtype not in CPU_DTYPES:
            raise BenchmarkSkipped(
                f"dtype {dtype} GEMM is not measured on CPU; CPU dtypes: {', '.join(CPU_DTYPES)}"
            )
        return
    if dtype == "fp8" and torch.cuda.get_device_capability(cuda_index(device)) < FP8_MIN_CAPABILITY:
        raise BenchmarkSkipped("dtype fp8 needs compute capability 8.9 or newer")
    if dtype == "bf16" and not torch.cuda.is_bf16_supported():
        raise BenchmarkSkipped("dtype bf16 is not supported by this GPU")


class GemmKind:
    name: ClassVar[str] = "gemm"
    task: ClassVar[Task] = "micro"
    role: ClassVar[Role] = "micro"
    measures: ClassVar[str] = "compute"
    Params: ClassVar[type[BaseModel]] = GemmParams
    dtypes: ClassVar[tuple[str, ...]] = CUDA_DTYPES
    backends: ClassVar[tuple[str, ...]] = ("eager",)

    def run(self, spec: BenchmarkSpec, params: GemmParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        import torch

        if spec.device.startswith("cuda"):
            select_device(spec.device)  # before the dtype checks: they ask the current device
            torch.set_float32_matmul_precision(
                "high" if spec.dtype == "tf32" else "highest"
            )  # fp32 = true fp32
        _check_dtype(torch, spec.dtype, spec.device)
        peak, peak_source = compute_peak(spec.device, spec.dtype)
        integer = spec.dtype == "int8"
        result = KindResult(metrics=[], config={"flops_per_call": {}, "flop_rule": "2*M*N*K"})
        if spec.dtype == "fp8":
            result.config["fp8_fast_accum"] = params.fp8_fast_accum
        for m, n, k in params.shapes:
            call = gemm_operands(torch, spec.dtype, m, n, k, spec.device, params.fp8_fast_accum)
            seconds = measure(call, budget=spec.budget, timer=timer_for(spec.device))
            flops = 2.0 * m * n * k
            result.config["flops_per_call"][f"{m}x{n}x{k}"] = flops
            add_metric(
                result,
                f"{'tops' if integer else 'tflops'}_{m}x{n}x{k}",
                seconds,
                "TOP/s" if integer else "TFLOP/s",
                scale=flops / 1e12,
                invert=True,
                peak=peak,
                peak_source=peak_source,
            )
            del call
        return result
