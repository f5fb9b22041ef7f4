"""What the model benchmark kinds (train, infer, generate, loadgen) share: building the workload and
its stored facts, peak-memory tracking, and the compute peak that MFU divides by."""

from __future__ import annotations

import re
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from capplan.harness.backends import get_backend, place_model
from capplan.harness.backends.base import LoadRequest, check_outputs
from capplan.harness.device import reset_peak_memory, select_device, torch_device
from capplan.harness.kinds.peaks import compute_peak
from capplan.harness.spec import BenchmarkSpec, Budget
from capplan.harness.timing import measure
from capplan.workloads import TORCH_DTYPES, WorkloadParams, build_workload, torch_dtype
from capplan.workloads.base import Workload, float_inputs_to
from capplan.workloads.flops import workload_facts

MB = 1e6

# The CPU "peak" for MFU is measured: a square matmul of this side in the benchmark's dtype, timed
# briefly, best round. 1024^3 * 2 = 2.1 GFLOP per call: large enough to reach BLAS's steady state
# (blocking, all cores busy), small enough to time in well under a second on a laptop core pair.
GEMM_PEAK_N = 1024
GEMM_PEAK_BUDGET = Budget(warmup_min_iters=2, warmup_max_s=0.5, min_iters=5, max_iters=50, min_time_s=0.2,
                          max_time_s=0.6)


VERIFY_BATCH = 2  # > 1 so a backend that mixes up samples across the batch is caught


@dataclass
class ModelSetup:
    workload: Workload
    config: dict[str, Any]


def setup_model(spec: BenchmarkSpec, params: WorkloadParams, **extra: Any) -> ModelSetup:
    """Build the workload (seeded) and the config every model record stores: model, size, backend,
    dtype, device, sequence length, per-sample FLOPs, parameter and activation bytes."""
    torch_dtype(spec.dtype)  # reject unsupported dtypes before any work
    select_device(spec.device)
    workload = build_workload(params, spec.seed)
    facts = workload_facts(params)
    config: dict[str, Any] = {
        "model": workload.name,
        "size": workload.size,
        "backend": spec.backend,
        "dtype": spec.dtype,
        "device": spec.device,
        "seq_len": workload.seq_len,
        "item_unit": workload.item_unit,
        **facts,
        "param_bytes_at_dtype": facts["param_count"]
        * torch.empty((), dtype=torch_dtype(spec.dtype)).element_size(),
        "model_shape": workload.shape,
        "seed": spec.seed,
        "torch_version": torch.__version__,
        **extra,
    }
    return ModelSetup(workload, config)


def verify_backend(setup: ModelSetup, backend: Any, spec: BenchmarkSpec, rtol: float | None,
                   atol: float | None) -> dict[str, float]:
    """Run eager torch and the backend on the same input; raise OutputMismatchError beyond tolerance."""
    if spec.backend == "eager":
        return {}
    w = setup.workload
    inputs = w.make_inputs(VERIFY_BATCH, torch.Generator().manual_seed(spec.seed + 1))
    with torch.inference_mode():
        want = w.model(*float_inputs_to(inputs, spec.device, TORCH_DTYPES[spec.dtype])).float().cpu().numpy()
    got = backend.to_numpy(backend.run_once(backend.prepare(inputs)))
    return check_outputs(spec.backend, got, np.asarray(want), spec.dtype, rtol, atol)


def load_backend(setup: ModelSetup, spec: BenchmarkSpec) -> tuple[Any, dict[str, Any]]:
    """Place the model for inference, load ``spec.backend`` and return it with its load facts."""
    place_model(setup.workload, spec.device, spec.dtype)
    backend = get_backend(spec.backend)
    example = setup.workload.make_inputs(VERIFY_BATCH, torch.Generator().manual_seed(spec.seed))
    facts = backend.load(LoadRequest(setup.workload, spec.device, spec.dtype, example))
    return backend, facts


_STATUS = Path("/proc/self/status")


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status in MB; ru_maxrss stands in for VmHWM where /proc is missing."""
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        match = None
    if match is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1e3 / MB
    return int(match.group(1)) * 1e3 / MB


class PeakMemory:
    """Peak memory of a benchmark, in MB, over what was in use before its model was built.

    CUDA: ``torch.cuda.max_memory_allocated`` (reset per measurement, the peak before each reset kept
    for the process's own peak, see capplan.harness.device) minus the allocation at ``baseline()``.
    CPU: the resident-set high-water mark (VmHWM) minus the RSS at ``baseline()``.
    The CPU mark is not reset (resetting it would also lower the harness's own peak-RSS reading of
    the benchmark process), so a CPU figure covers everything since the baseline: model build, export
    and every measurement so far (a sweep's batches in the order given).
    """

    def __init__(self, device: str) -> None:
        self.device = torch_device(device)
        self.cuda = self.device.type == "cuda"
        self.base_mb = 0.0
        self.source = (
            "torch.cuda.max_memory_allocated minus the allocation before the model"
            if self.cuda
            else "VmHWM (resident high-water mark since the process started) minus the RSS before the model"
        )

    def baseline(self) -> None:
        """Remember the current footprint (call before the model is built)."""
        self.base_mb = torch.cuda.memory_allocated(self.device) / MB if self.cuda else _status_mb("VmRSS")

    def reset(self) -> None:
        """Start a new CUDA peak (the CPU high-water mark stays, see the class docs)."""
        if self.cuda:
            reset_peak_memory(str(self.device))

    def peak_mb(self) -> float:
        """Peak minus the baseline (MB)."""
        peak = torch.cuda.max_memory_allocated(self.device) / MB if self.cuda else _status_mb("VmHWM")
        return max(0.0, peak - self.base_mb)


def compute_peak_tflops(device: str, dtype: str) -> tuple[float | None, str | None]:
    """The device's peak for ``dtype`` in TFLOP/s and where it comes from.

    CUDA: the catalog row of this GPU (dense tensor peak). CPU: a matmul measured now in the same
    dtype (there is no reliable datasheet figure for a shared, turbo-clocked CPU).
    """
    if device.startswith("cuda"):
        return compute_peak(device, dtype)
    n = GEMM_PEAK_N
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(torch_dtype(dtype))
    b = torch.randn(n, n, generator=g).to(torch_dtype(dtype))
    samples = measure(lambda: torch.mm(a, b), budget=GEMM_PEAK_BUDGET)
    best_s = min(samples)
    return (
        2 * n** 3 / best_s / 1e12,
        f"measured: best of {len(samples)} torch.mm {n}^3 {dtype} rounds on this CPU",
    )
