"""Reference peaks for micro-benchmarks, looked up lazily in the catalog by the CUDA device's name.

CPU peaks are left unknown: core count and ISA flags alone do not give FLOPs/cycle (e.g. Zen 4
executes AVX-512 on 256-bit units), and capplan does not invent numbers.
"""

from __future__ import annotations

from typing import Any

from capplan.harness.device import cuda_index


def _catalog_accelerator(device: str) -> Any | None:
    if not device.startswith("cuda"):
        return None
    import torch

    try:
        from capplan.catalog import load_catalog

        return load_catalog().find_accelerator(torch.cuda.get_device_name(cuda_index(device)))
    except Exception:  # a missing or broken catalog only loses the % of peak, never the measurement
        return None


def _source(acc: Any) -> str:
    return f"catalog: {acc.name} ({acc.source}, {acc.source_date})"


def compute_peak(device: str, dtype: str) -> tuple[float | None, str | None]:
    """Dense peak in TFLOP/s (TOP/s for int8) of ``device`` for ``dtype``, with its source."""
    acc = _catalog_accelerator(device)
    peak = acc.peak_tflops(dtype) if acc is not None else None
    return (peak, _source(acc)) if peak else (None, None)


def memory_bw_peak(device: str) -> tuple[float | None, str | None]:
    """Peak device-memory bandwidth in GB/s of ``device``, with its source."""
    acc = _catalog_accelerator(device)
    peak = acc.mem_bw_gbps if acc is not None else None
    return (peak, _source(acc)) if peak else (None, None)
