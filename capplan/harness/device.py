"""Which CUDA device a spec names, and the CUDA calls that must name it explicitly.

A spec's device is ``cpu``, ``cuda`` or ``cuda:N``. ``cuda`` means ordinal 0 (what a fresh process's
current device is): torch's own calls reject an index-less device (``torch.cuda.set_device(
torch.device("cuda"))`` raises ValueError), and a call left to "the current device" measures GPU 0
whatever the spec asked for. Ordinals are CUDA's, after ``CUDA_VISIBLE_DEVICES``; NVML numbers GPUs
differently, so telemetry finds a GPU by its UUID (capplan.hardware.inventory.cuda_devices).

torch is imported inside the functions: the runner parses device names without importing it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def cuda_index(device: str) -> int | None:
    """CUDA ordinal of ``device`` (``cuda`` -> 0, ``cuda:3`` -> 3); None for a non-CUDA device."""
    kind, _, index = device.partition(":")
    if kind != "cuda":
        return None
    return int(index) if index else 0


def torch_device(device: str) -> Any:
    """``torch.device`` with an explicit index for CUDA (``cuda`` -> ``cuda:0``)."""
    import torch

    index = cuda_index(device)
    return torch.device("cuda", index) if index is not None else torch.device(device)


def select_device(device: str) -> Any:
    """Make ``device`` the current CUDA device (a no-op for CPU); returns its indexed torch.device.

    Kernels launched without an explicit device, the default stream, and library handles
    (cuBLAS, cuDNN) then belong to the GPU the spec named.
    """
    import torch

    dev = torch_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev.index)
    return dev


def device_sync(device: str) -> Callable[[], None] | None:
    """Synchronise the spec's own CUDA device (called before each clock read), else None."""
    index = cuda_index(device)
    if index is None:
        return None
    import torch

    return lambda: torch.cuda.synchronize(index)


# A kind resets the CUDA peak-memory counter to measure one segment (a batch); the peak before each
# reset is kept here so the benchmark process's own peak (peak_device_mem_mb) covers every segment.
_PEAK_BEFORE_RESET: dict[int, int] = {}


def reset_peak_memory(device: str) -> None:
    """Start a new CUDA peak-memory segment on ``device``, remembering the peak so far."""
    import torch

    index = cuda_index(device)
    if index is None:
        return
    _PEAK_BEFORE_RESET[index] = max(_PEAK_BEFORE_RESET.get(index, 0), torch.cuda.max_memory_allocated(index))
    torch.cuda.reset_peak_memory_stats(index)


def process_peak_memory_bytes(device: str) -> int | None:
    """Peak CUDA memory allocated by this process on ``device`` over all segments; None off CUDA or
    before CUDA was initialised (nothing was allocated)."""
    import torch

    index = cuda_index(device)
    if index is None or not torch.cuda.is_initialized():
        return None
    return max(_PEAK_BEFORE_RESET.get(index, 0), torch.cuda.max_memory_allocated(index))
