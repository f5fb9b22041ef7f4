"""Guarded access to NVML (nvidia-ml-py). Every function returns empty results without a GPU/driver."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def nvml_session() -> Iterator[Any | None]:
    """Yield the initialised ``pynvml`` module, or None when NVML is unavailable."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no library, no driver, no device: all mean "no NVML here"
        yield None
        return
    try:
        yield pynvml
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _try(fn: Any, *args: Any) -> Any:
    """Call an NVML getter; None when the device does not support the query."""
    try:
        value = fn(*args)
    except Exception:
        return None
    return value.decode() if isinstance(value, bytes) else value


def gpu_facts(nvml: Any) -> list[dict[str, Any]]:
    """Static facts of every GPU NVML sees."""
    gpus = []
    for index in range(_try(nvml.nvmlDeviceGetCount) or 0):
        h = nvml.nvmlDeviceGetHandleByIndex(index)
        mem = _try(nvml.nvmlDeviceGetMemoryInfo, h)
        cc = _try(nvml.nvmlDeviceGetCudaComputeCapability, h)
        power_mw = _try(nvml.nvmlDeviceGetPowerManagementLimit, h)
        nvlinks = 0
        for link in range(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18)):
            if _try(nvml.nvmlDeviceGetNvLinkState, h, link) == 1:
                nvlinks += 1
        gpus.append(
            {
                "index": index,
                "name": _try(nvml.nvmlDeviceGetName, h),
                "uuid": _try(nvml.nvmlDeviceGetUUID, h),
                "memory_gib": round(mem.total / 2**30, 2) if mem else None,
                "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
                "power_limit_w": power_mw / 1000 if power_mw else None,
                "max_sm_clock_mhz": _try(nvml.nvmlDeviceGetMaxClockInfo, h, nvml.NVML_CLOCK_SM),
                "max_mem_clock_mhz": _try(nvml.nvmlDeviceGetMaxClockInfo, h, nvml.NVML_CLOCK_MEM),
                "pcie_gen": _try(nvml.nvmlDeviceGetMaxPcieLinkGeneration, h),
                "pcie_width": _try(nvml.nvmlDeviceGetMaxPcieLinkWidth, h),
                "nvlink_links": nvlinks,
            }
        )
    return gpus


def driver_version(nvml: Any) -> str | None:
    return _try(nvml.nvmlSystemGetDriverVersion)
