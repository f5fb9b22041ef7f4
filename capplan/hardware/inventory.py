"""Hardware and software inventory of this host, and its stable fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, Field

from capplan.hardware.nvml import driver_version, gpu_facts, nvml_session, nvml_uuid


class CpuInfo(BaseModel):
    model: str
    physical_cores: int | None
    logical_cores: int
    base_mhz: float | None
    max_mhz: float | None
    flags: list[str] = Field(default_factory=list, description="ISA extensions that matter for ML kernels")
    numa_nodes: int | None


class MemoryInfo(BaseModel):
    total_gib: float
    available_gib: float


class GpuInfo(BaseModel):
    index: int
    name: str | None
    uuid: str | None
    memory_gib: float | None
    compute_capability: str | None
    power_limit_w: float | None
    max_sm_clock_mhz: int | None
    max_mem_clock_mhz: int | None
    pcie_gen: int | None
    pcie_width: int | None
    nvlink_links: int = 0


class CudaDevice(BaseModel):
    """A GPU as CUDA (torch) numbers it in this process: ordinals count only the visible GPUs
    (``CUDA_VISIBLE_DEVICES``), in CUDA's order, which is not NVML's; the UUID links the two."""

    ordinal: int = Field(description="CUDA ordinal: the N of cuda:N")
    name: str
    uuid: str | None = Field(None, description="the device's UUID as NVML spells it (GPU-…, MIG-…)")
    memory_gib: float
    compute_capability: str


class Inventory(BaseModel):
    hostname: str
    os: str
    kernel: str
    cpu: CpuInfo
    memory: MemoryInfo
    gpus: list[GpuInfo] = Field(description="every GPU NVML sees on the host, in NVML (PCI) order")
    cuda_devices: list[CudaDevice] = Field(
        default_factory=list, description="the GPUs CUDA makes visible to capplan, by CUDA ordinal"
    )
    software: dict[str, str | None]
    blas: list[dict[str, Any]]
    fingerprint: str = Field(description="hash of the hardware facts that affect performance")


_ML_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "fma", "neon", "sve")


def _cpu_model_and_flags() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text(errors="replace")
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        model = m.group(1).strip() if m else model
        f = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.MULTILINE)
        present = set(f.group(1).split()) if f else set()
        flags = [x for x in _ML_FLAGS if x in present]
    return model, flags


def _numa_nodes() -> int | None:
    base = Path("/sys/devices/system/node")
    if not base.exists():
        return None
    return len([p for p in base.glob("node[0-9]*")]) or None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _providing(module: str) -> list[tuple[str, str | None]]:
    """(distribution, version) of every installed distribution that provides top-level ``module``."""
    names = sorted(set(metadata.packages_distributions().get(module, [])))
    return [(name, _version(name)) for name in names]


def onnxruntime_versions() -> dict[str, str | None]:
    """Version of ``onnxruntime`` whichever wheel provides it (onnxruntime, onnxruntime-gpu, ...) and
    that wheel's name; two wheels providing it overwrite each other's files, so both are named."""
    found = _providing("onnxruntime")
    if not found:
        return {"onnxruntime": None, "onnxruntime_dist": None}
    if len(found) == 1:
        return {"onnxruntime": found[0][1], "onnxruntime_dist": found[0][0]}
    return {
        "onnxruntime": ", ".join(f"{name} {version}" for name, version in found),
        "onnxruntime_dist": " + ".join(name for name, _ in found) + " (conflicting wheels)",
    }


def software_versions() -> dict[str, str | None]:
    """Versions of the software stack that affects results (no heavy imports except torch's metadata)."""
    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "capplan": _version("capplan"),
        "torch": _version("torch"),
        **onnxruntime_versions(),
        "numpy": _version("numpy"),
        "cuda": None,
        "cudnn": None,
        "nvidia_driver": None,
    }
    try:
        import torch

        versions["cuda"] = torch.version.cuda
        if torch.backends.cudnn.is_available():
            versions["cudnn"] = str(torch.backends.cudnn.version())
    except ImportError:
        pass
    return versions


def torch_cuda_devices() -> list[CudaDevice]:
    """The CUDA devices torch sees, with their UUIDs (empty without CUDA)."""
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        devices = []
        for ordinal in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(ordinal)
            uuid = getattr(props, "uuid", None)
            devices.append(CudaDevice(
                ordinal=ordinal, name=props.name, uuid=nvml_uuid(str(uuid)) if uuid else None,
                memory_gib=round(props.total_memory / 2**30, 2),
                compute_capability=f"{props.major}.{props.minor}",
            ))
        return devices
    except Exception:  # a broken driver or CUDA build: report no CUDA devices rather than fail the inventory
        return []


def cuda_uuids(devices: list[dict[str, Any]], ordinals: list[int]) -> list[str]:
    """UUIDs of these CUDA ordinals among ``devices`` (CudaDevice dicts, e.g. a stored inventory's
    ``cuda_devices``); empty unless every ordinal has one."""
    by_ordinal = {d["ordinal"]: d.get("uuid") for d in devices}
    uuids = [by_ordinal.get(i) for i in ordinals]
    return [u for u in uuids if u] if all(uuids) else []


def _blas_info() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    try:
        import torch  # noqa: F401  (loads torch's BLAS/OpenMP so threadpoolctl sees them)
    except ImportError:
        pass
    keep = ("user_api", "internal_api", "version", "num_threads", "architecture")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def fingerprint(cpu: CpuInfo, memory: MemoryInfo, gpus: list[GpuInfo]) -> str:
    """Stable hash of performance-relevant hardware facts (not of load, hostname or software)."""
    facts = {
        "cpu": [cpu.model, cpu.physical_cores, cpu.logical_cores, sorted(cpu.flags)],
        "memory_gib": round(memory.total_gib),
        "gpus": [[g.name, g.memory_gib, g.compute_capability] for g in gpus],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


@cache
def collect_inventory() -> Inventory:
    """Inventory of this host (cached for the process: hardware does not change under us)."""
    model, flags = _cpu_model_and_flags()
    freq = psutil.cpu_freq()
    cpu = CpuInfo(
        model=model,
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True) or os.cpu_count() or 1,
        base_mhz=(freq.min or None) if freq else None,
        max_mhz=(freq.max or freq.current or None) if freq else None,
        flags=flags,
        numa_nodes=_numa_nodes(),
    )
    vm = psutil.virtual_memory()
    memory = MemoryInfo(total_gib=round(vm.total / 2**30, 2), available_gib=round(vm.available / 2**30, 2))
    software = software_versions()
    with nvml_session() as nvml:
        gpus = [GpuInfo(**g) for g in gpu_facts(nvml)] if nvml else []
        if nvml:
            software["nvidia_driver"] = driver_version(nvml)
    uname = platform.uname()
    return Inventory(
        hostname=uname.node,
        os=_os_name(),
        kernel=uname.release,
        cpu=cpu,
        memory=memory,
        gpus=gpus,
        cuda_devices=torch_cuda_devices(),
        software=software,
        blas=_blas_info(),
        fingerprint=fingerprint(cpu, memory, gpus),
    )


def _os_name() -> str:
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        pretty = ""
    return f"{platform.system()} {pretty}".strip()
