"""Host inventory as display tables."""

from __future__ import annotations

import pandas as pd
from pydantic import ValidationError

from capplan.hardware.inventory import Inventory, collect_inventory
from capplan.results.schema import RunRecord

__all__ = ["Inventory", "collect_inventory", "inventory_frame", "recorded_inventory", "software_frame"]


def inventory_frame(inv: Inventory) -> pd.DataFrame:
    """Key hardware facts of a host, one row each, with units in the field names."""
    cpu = inv.cpu
    rows: list[tuple[str, str]] = [
        ("hostname", inv.hostname),
        ("os", f"{inv.os} (kernel {inv.kernel})"),
        ("cpu", cpu.model),
        ("cores (physical / logical)", f"{cpu.physical_cores or '?'} / {cpu.logical_cores}"),
        ("cpu max clock (MHz)", f"{cpu.max_mhz:.0f}" if cpu.max_mhz else "unknown"),
        ("ML instruction sets", ", ".join(cpu.flags) or "none detected"),
        ("memory total (GiB)", f"{inv.memory.total_gib:.1f}"),
        ("fingerprint", inv.fingerprint),
    ]
    for g in inv.gpus:
        mem = f"{g.memory_gib:.0f} GiB" if g.memory_gib else "? GiB"
        pcie = f", PCIe gen{g.pcie_gen} x{g.pcie_width}" if g.pcie_gen else ""
        rows.append((f"gpu {g.index}", f"{g.name or 'unknown'} ({mem}{pcie})"))
    if not inv.gpus:
        rows.append(("gpus", "none (CUDA/NVML not available)"))
    return pd.DataFrame(rows, columns=["field", "value"])


def software_frame(inv: Inventory) -> pd.DataFrame:
    """Versions of the software stack that affects results."""
    rows = [(k, v or "not installed") for k, v in inv.software.items()]
    return pd.DataFrame(rows, columns=["package", "version"])


def recorded_inventory(record: RunRecord) -> Inventory | None:
    """The inventory snapshot the harness stored with ``record``; None when absent or not in this schema."""
    try:
        return Inventory.model_validate(record.inventory) if record.inventory else None
    except ValidationError:
        return None
