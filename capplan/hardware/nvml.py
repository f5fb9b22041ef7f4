"""Guarded access to NVML (nvidia-ml-py). Every function returns empty results without a GPU/driver.

NVML numbers GPUs in PCI bus order and ignores ``CUDA_VISIBLE_DEVICES``; CUDA numbers the visible GPUs
fastest first. A CUDA ordinal is therefore never an NVML index: GPUs are matched by UUID.
"""

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


def nvml_uuid(uuid: str) -> str:
    """A CUDA UUID as NVML spells it: torch reports ``xxxxxxxx-…``, NVML ``GPU-xxxxxxxx-…``."""
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


def handle_by_uuid(nvml: Any, uuid: str) -> Any:
    """NVML handle of the GPU (or MIG instance) with this UUID, with or without NVML's prefix.
    LookupError when NVML knows no such device."""
    bare = uuid.removeprefix("GPU-").removeprefix("MIG-")
    for candidate in dict.fromkeys((uuid, f"GPU-{bare}", f"MIG-{bare}")):
        handle = _try(nvml.nvmlDeviceGetHandleByUUID, candidate)  # NotFound: try the next spelling
        if handle is not None:
            return handle
    raise LookupError(f"NVML has no GPU with UUID {uuid}")


def gpu_facts(nvml: Any) -> list[dict[str, Any]]:
    """Static facts of every GPU NVML sees (a GPU whose handle cannot be read is left out)."""
    gpus = []
    for index in range(_try(nvml.nvmlDeviceGetCount) or 0):
        h = _try(nvml.nvmlDeviceGetHandleByIndex, index)
        if h is None:
            continue
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
