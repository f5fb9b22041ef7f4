"""`capplan hw`: hardware and software inventory."""

from __future__ import annotations

from rich.table import Table

from capplan.cli.common import JsonOpt, console, print_json
from capplan.hardware.inventory import collect_inventory


def hw(as_json: JsonOpt = False) -> None:
    """Show this host's hardware/software inventory and its fingerprint."""
    inv = collect_inventory()
    if as_json:
        print_json(inv.model_dump(mode="json"))
        return
    t = Table(title=f"{inv.hostname}  fingerprint {inv.fingerprint}", show_header=False)
    cpu = inv.cpu
    t.add_row("CPU", f"{cpu.model} ({cpu.physical_cores} cores / {cpu.logical_cores} threads)")
    t.add_row("CPU MHz", f"base {cpu.base_mhz or '?'} / max {cpu.max_mhz or '?'}")
    t.add_row("ISA", ", ".join(cpu.flags) or "-")
    t.add_row("NUMA nodes", str(cpu.numa_nodes or "?"))
    t.add_row("Memory", f"{inv.memory.total_gib:.1f} GiB total, {inv.memory.available_gib:.1f} GiB available")
    t.add_row("OS", f"{inv.os} (kernel {inv.kernel})")
    t.add_row("Software", ", ".join(f"{k} {v}" for k, v in inv.software.items() if v))
    for b in inv.blas:
        t.add_row("Thread pool", f"{b['internal_api']} {b.get('version') or ''} x{b['num_threads']}")
    if not inv.gpus:
        t.add_row("GPUs", "0 (no NVIDIA GPU/driver found via NVML)")
    for g in inv.gpus:
        t.add_row(
            f"GPU {g.index}",
            f"{g.name}, {g.memory_gib} GiB, cc {g.compute_capability}, {g.power_limit_w} W, "
            f"PCIe gen{g.pcie_gen} x{g.pcie_width}, NVLink links {g.nvlink_links}",
        )
    for d in inv.cuda_devices:  # CUDA's numbering (after CUDA_VISIBLE_DEVICES) is not NVML's
        t.add_row(f"cuda:{d.ordinal}", f"{d.name}, {d.memory_gib} GiB, cc {d.compute_capability}, {d.uuid}")
    console.print(t)
