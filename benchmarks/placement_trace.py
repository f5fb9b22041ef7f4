"""Trace the host's vCPU placement and what it does to small GEMMs and the STREAM triad.

Cycles for --seconds: one hand-off probe (capplan.hardware.placement), then --block-s of a 128x128 fp32
GEMM and --block-s of a STREAM triad (fp64, 3 x 160 MB), each summarised by its median call. Prints the
session's reference hand-off, the share of cycles with the vCPUs apart, how long each placement lasted,
and the GEMM and triad medians in each placement. The figures behind capplan.hardware.placement's
docstring and the README's measurement rules come from this script (`make bench-placement`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from capplan.hardware import placement
from capplan.harness.runner import torch_threads

TRIAD_ELEMENTS = 20_000_000  # fp64: 160 MB an array, far beyond any LLC
TRIAD_BYTES = 3 * 8 * TRIAD_ELEMENTS  # two arrays read, one written


def _median_call_s(fn, seconds: float) -> float:  # noqa: ANN001
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) * 1e-9


def _phases(apart: list[bool], cycle_s: float) -> dict[bool, list[float]]:
    """Lengths (s) of consecutive runs of cycles in each placement."""
    out: dict[bool, list[float]] = {True: [], False: []}
    start = 0
    for i in range(1, len(apart) + 1):
        if i == len(apart) or apart[i] != apart[start]:
            out[apart[start]].append((i - start) * cycle_s)
            start = i
    return out


def _cpu_ticks() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs since boot (Linux /proc/stat; zeros elsewhere)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--block-s", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(torch_threads())
    a, b = torch.randn(128, 128), torch.randn(128, 128)
    x = torch.empty(TRIAD_ELEMENTS, dtype=torch.float64)
    y, z = torch.randn(TRIAD_ELEMENTS, dtype=torch.float64), torch.randn(TRIAD_ELEMENTS, dtype=torch.float64)

    def gemm() -> None:
        torch.mm(a, b)

    def triad() -> None:
        torch.add(y, z, alpha=3.0, out=x)

    for fn in (gemm, triad):
        _median_call_s(fn, 0.2)
    rows: list[tuple[float, float, float]] = []
    steal0, total0 = _cpu_ticks()
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        probe = placement.handoff_us()
        if probe is None:
            raise SystemExit("placement trace: needs >= 2 intra-op threads and CAPPLAN_PLACEMENT_GATE unset")
        placement.note(probe)
        rows.append((probe, _median_call_s(gemm, args.block_s), _median_call_s(triad, args.block_s)))
    cycle_s = (time.perf_counter() - started) / len(rows)
    steal1, total1 = _cpu_ticks()
    steal_pct = 100 * (steal1 - steal0) / max(total1 - total0, 1)
    ref = placement.reference_us()
    apart = [placement.is_shifted(p, ref) for p, _, _ in rows]
    phases = _phases(apart, cycle_s)
    print(f"vCPU placement over {args.seconds:g} s ({len(rows)} cycles of {cycle_s:.2f} s) on "
          f"{torch.get_num_threads()} threads: reference hand-off {ref:.2f} µs; apart (> "
          f"{placement.SHIFTED_RATIO:g}x) in {100 * sum(apart) / len(rows):.0f} % of cycles; steal time "
          f"{steal_pct:.2f} % of CPU time (what the guest is told)")
    for is_apart, label in ((False, "reference"), (True, "apart")):
        sel = [r for r, s in zip(rows, apart, strict=True) if s == is_apart]
        lengths = phases[is_apart]
        if not sel:
            print(f"  {label:9s}: never seen")
            continue
        print(f"  {label:9s}: hand-off median {statistics.median(r[0] for r in sel):.2f} µs; "
              f"128x128 GEMM median {statistics.median(r[1] for r in sel) * 1e6:.1f} µs; triad median "
              f"{TRIAD_BYTES / statistics.median(r[2] for r in sel) / 1e9:.1f} GB/s; {len(lengths)} phases, "
              f"median {statistics.median(lengths):.1f} s, longest {max(lengths):.1f} s")


if __name__ == "__main__":
    main()
