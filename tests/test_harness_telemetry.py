"""Telemetry sampler on a real busy process tree; RAPL energy arithmetic on a synthetic powercap tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from capplan.hardware import telemetry
from capplan.hardware.telemetry import rapl_delta_j, read_rapl_uj, sample_telemetry

BUSY_CHILD = """
import sys, time
block = bytearray(150 * 10**6)            # ~150 MB resident
for i in range(0, len(block), 4096):
    block[i] = 1
sys.stdout.write("ready\\n"); sys.stdout.flush()
end = time.process_time() + 1.0           # one second of CPU time, however loaded the host is
while time.process_time() < end:
    pass
"""


def test_sampler_sees_cpu_and_memory_of_a_child_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", BUSY_CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with sample_telemetry(pid=proc.pid, interval_s=0.05) as summary:
            assert summary == {}  # filled on exit
            proc.wait(timeout=120)
    finally:
        proc.kill()
    assert summary["rss_mb_peak_sampled"] >= 150
    assert summary["cpu_util_pct_mean"] > 0 and summary["cpu_util_pct_max"] > 0
    assert summary["sys_mem_used_mb_max"] > 0 and 0 < summary["sys_mem_used_pct_max"] <= 100
    assert "gpu_util_pct_mean" not in summary  # no GPU asked for: no GPU keys, nothing invented
    if read_rapl_uj() is None:
        assert summary["cpu_energy_j"] is None


def _domain(root: Path, name: str, energy: int, wrap: int) -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "energy_uj").write_text(f"{energy}\n")
    (d / "max_energy_range_uj").write_text(f"{wrap}\n")


def test_rapl_packages_are_summed_with_wraparound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "RAPL_ROOT", tmp_path)
    _domain(tmp_path, "intel-rapl:0", 1_000_000, 10_000_000)
    _domain(tmp_path, "intel-rapl:1", 9_500_000, 10_000_000)
    _domain(tmp_path, "intel-rapl:0:0", 123, 10_000_000)  # sub-domain (core): not double counted
    before = read_rapl_uj()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("3000000\n")  # +2 J
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("500000\n")  # wrapped: +1 J
    assert rapl_delta_j(before, read_rapl_uj()) == pytest.approx(3.0)
    assert rapl_delta_j(None, before) is None


def test_unreadable_rapl_is_reported_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "RAPL_ROOT", tmp_path)
    (tmp_path / "intel-rapl:0").mkdir()  # no readable counter files
    assert read_rapl_uj() is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_telemetry_reads_nvml() -> None:
    from capplan.hardware.inventory import torch_cuda_devices

    uuid = torch_cuda_devices()[0].uuid  # cuda:0 as NVML knows it (NVML indices are not CUDA ordinals)
    a = torch.randn(4096, 4096, device="cuda:0")
    with sample_telemetry(gpu_uuids=[uuid], interval_s=0.05) as summary:
        for _ in range(200):
            a @ a
        torch.cuda.synchronize()
    assert summary["gpu_count"] == 1
    assert summary["gpu_mem_used_mb_max"] > 0 and summary["gpu_power_w_mean"] > 0
    assert summary["gpu_energy_j"] is None or summary["gpu_energy_j"] > 0
