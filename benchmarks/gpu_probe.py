"""Raw-API probe for scripts/gpu-check.sh: what CUDA, NVML and torch report on their own, beside capplan.

1. CUDA events against the wall clock on an 8192^3 bf16 GEMM (a bare loop of the harness's own call),
   to set beside the catalog's dense bf16 peak (H200: 989.5 TFLOP/s, NVIDIA's datasheet).
2. NVML's UUID of each CUDA device against torch's, and whether NVML's index equals the CUDA ordinal.
3. NVML's energy counter against mean sampled power x time over a few seconds of GEMM load.
4. fp8 (full and fast accumulation) and int8 GEMMs, 8192^3.
Prints one line per figure and writes them as one JSON document (--out). Without CUDA it reports
"skipped: no CUDA" and exits 0. Never run by `make test`: it is a measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from capplan.hardware.inventory import torch_cuda_devices
from capplan.hardware.nvml import handle_by_uuid, nvml_session
from capplan.harness.kinds.gemm import gemm_operands
from capplan.harness.kinds.peaks import compute_peak

N = 8192  # GEMM side: 2 * 8192^3 = 1.1 TFLOP per call
CALLS = 50  # timed calls per GEMM (bf16 on an H200: ~1.4 ms each)
WARMUP_CALLS = 10
LOAD_S = 5.0  # energy check: seconds of back-to-back GEMMs
POWER_INTERVAL_S = 0.05  # NVML power sampling period during the energy check


def time_gemm(dtype: str, device: str, fast_accum: bool = False) -> dict[str, float | str | None]:
    """Median per-call time by CUDA events and mean per-call time by the wall clock, same calls, with
    the catalog's dense peak for this GPU and dtype (None when the catalog has no row for it)."""
    call = gemm_operands(torch, dtype, N, N, N, device, fast_accum)
    for _ in range(WARMUP_CALLS):
        call()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(CALLS)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(CALLS)]
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for start, end in zip(starts, ends, strict=True):
        start.record()
        call()
        end.record()
    torch.cuda.synchronize(device)
    wall_s = (time.perf_counter() - t0) / CALLS
    event_s = statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)) * 1e-3
    flops = 2.0 * N**3
    peak, source = compute_peak(device, dtype)
    return {
        "catalog_peak_tflops": peak,
        "catalog_peak_source": source,
        "events_ms_median": event_s * 1e3,
        "wall_ms_mean": wall_s * 1e3,
        "events_tflops": flops / event_s / 1e12,
        "wall_tflops": flops / wall_s / 1e12,
        "wall_over_events": wall_s / event_s,
    }


def uuid_check(nvml: Any) -> dict[str, Any]:
    """Each CUDA ordinal's UUID (torch) looked up in NVML, by UUID and, for contrast, by index."""
    rows = []
    for dev in torch_cuda_devices():
        row: dict[str, Any] = {"cuda_ordinal": dev.ordinal, "torch_name": dev.name, "torch_uuid": dev.uuid}
        try:
            handle = handle_by_uuid(nvml, dev.uuid or "")
            row["found_by_uuid"] = True
            row["nvml_name"] = nvml.nvmlDeviceGetName(handle)
            row["nvml_index"] = nvml.nvmlDeviceGetIndex(handle)  # not available for a MIG instance
            row["nvml_index_equals_ordinal"] = row["nvml_index"] == dev.ordinal
        except Exception as exc:  # the finding this probe exists for: report it, do not stop
            row.setdefault("found_by_uuid", False)
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return {"devices": rows, "all_found": bool(rows) and all(r["found_by_uuid"] for r in rows)}


def energy_check(nvml: Any, device: str) -> dict[str, float | None]:
    """NVML's energy counter over LOAD_S of bf16 GEMMs against mean power x elapsed time."""
    uuid = torch_cuda_devices()[torch.device(device).index or 0].uuid
    handle = handle_by_uuid(nvml, uuid or "")
    call = gemm_operands(torch, "bf16", N, N, N, device)
    power_w: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(POWER_INTERVAL_S):
            power_w.append(nvml.nvmlDeviceGetPowerUsage(handle) / 1e3)

    call()
    torch.cuda.synchronize(device)
    thread = threading.Thread(target=sample, daemon=True)
    e0, t0 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle), time.perf_counter()
    thread.start()
    while time.perf_counter() - t0 < LOAD_S:
        for _ in range(20):
            call()
        torch.cuda.synchronize(device)
    e1, t1 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle), time.perf_counter()
    stop.set()
    thread.join()
    counter_j = (e1 - e0) / 1e3
    mean_w = statistics.fmean(power_w) if power_w else None
    integrated_j = mean_w * (t1 - t0) if mean_w is not None else None
    return {
        "seconds": t1 - t0,
        "power_samples": float(len(power_w)),
        "mean_power_w": mean_w,
        "counter_j": counter_j,
        "mean_power_x_time_j": integrated_j,
        "counter_over_power_x_time": counter_j / integrated_j if integrated_j else None,
        "power_limit_w": nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1e3,
    }


def _section(out: dict[str, Any], name: str, fn: Callable[[], Any]) -> None:
    try:
        out[name] = fn()
    except Exception as exc:  # one broken API must not hide the others' figures
        out[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}


def probe(device: str) -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"status": "skipped: no CUDA", "torch": torch.__version__}
    torch.cuda.set_device(torch.device(device).index or 0)
    out: dict[str, Any] = {
        "status": "ran",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": device,
        "device_name": torch.cuda.get_device_name(),
        "compute_capability": ".".join(map(str, torch.cuda.get_device_capability())),
        "cuda_device_count": torch.cuda.device_count(),
    }
    _section(out, "gemm_bf16", lambda: time_gemm("bf16", device))
    for name, dtype, fast in (("gemm_fp8", "fp8", False), ("gemm_fp8_fast_accum", "fp8", True),
                              ("gemm_int8", "int8", False)):
        _section(out, name, lambda d=dtype, f=fast: time_gemm(d, device, f))
    with nvml_session() as nvml:
        if nvml is None:
            out["nvml"] = {"error": "NVML is not available (no nvidia-ml-py or no libnvidia-ml)"}
        else:
            out["nvml_driver"] = nvml.nvmlSystemGetDriverVersion()
            _section(out, "uuid", lambda: uuid_check(nvml))
            _section(out, "energy", lambda: energy_check(nvml, device))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args()
    result = probe(args.device)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    if result["status"] != "ran":
        print(f"gpu probe: {result['status']}")
        return
    for key, value in result.items():
        if isinstance(value, dict):
            brief = {k: v for k, v in value.items() if k != "traceback"}
            print(f"gpu probe: {key}: {json.dumps(brief, default=str)}")


if __name__ == "__main__":
    main()
