"""Harness self-check: does capplan measure what the tools people trust measure, and are its numbers stable?

Prints, for this machine (run by `make bench-selfcheck`; never asserted in tests):
  1. harness GEMM vs a bare torch.matmul loop: PAIRS paired rounds, order alternating within the pair;
     the median of the pairs' ratios with its 95 % CI                  (target >= 0.97x)
  2. harness STREAM triad GB/s vs a compiled C STREAM triad           (target >= 0.90x)
  3. timer overhead per iteration                                      (target < 2 us)
  4. quick suite, RUNS interleaved runs (every benchmark once per pass): run-to-run CV of each
     headline, median and worst                                        (target median <= 5 %)
  5. A/A: the same RUNS runs split 5 against 5, through `bench compare`'s rule (capplan.results.compare),
     over every distinct split: the share of comparisons called different (target <= 5 %)
Host load comes first and last (load average, other processes' CPU share), and contended rounds are
counted: on a shared machine, read the figures with them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from capplan.hardware.telemetry import CONTENDED_OTHERS_PCT, OthersCpu
from capplan.harness.kinds.membw import LLC_MULTIPLE, cpu_llc_bytes
from capplan.harness.runner import (
    PlannedBenchmark,
    RunEnvironment,
    placement_summary,
    run_benchmarks,
    torch_threads,
)
from capplan.harness.spec import BenchmarkSpec, Budget
from capplan.harness.suite import load_suite
from capplan.harness.timing import CONTENTION_WINDOW_S, PerfCounterTimer, measure
from capplan.results.compare import FASTER, SLOWER, compare_runs
from capplan.results.schema import RunRecord, Status
from capplan.results.stats import median_ci
from capplan.results.store import Store

PAIRS = 10  # GEMM harness/bare pairs: a 95 % median CI needs >= 6; 10 gives ranks 2..9
RUNS = 10  # quick-suite passes: the A/A check splits them 5 against 5
STREAM_ROUNDS = 3
GEMM_N = 1024
STREAM_NTIMES = 20
BUDGET = Budget(warmup_max_s=1.0, min_iters=10, min_time_s=1.0, max_time_s=3.0)
HERE = Path(__file__).resolve().parent


def host_load(label: str) -> None:
    meter = OthersCpu()
    time.sleep(1.0)
    one, five, _ = os.getloadavg()
    print(f"host load ({label}): load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs; "
          f"other processes used {meter.others_pct():.0f} % of the CPU over 1 s "
          f"(contended above {CONTENDED_OTHERS_PCT:g} %)")


def harness_record(store: Store, env: RunEnvironment, spec: BenchmarkSpec, params: dict) -> RunRecord:
    """Run one benchmark through the runner (its own subprocess) and return its record."""
    (event,) = run_benchmarks([PlannedBenchmark(spec, params)], store, suite="selfcheck", env=env)
    record = event.record
    if record is None or record.status is not Status.ok:
        raise SystemExit(f"harness run of {spec.name} failed: {record.error if record else 'no record'}")
    return record


def bare_gemm_tflops(n: int, seconds: float = BUDGET.max_time_s) -> tuple[float, int]:
    """A bare torch.matmul loop for as long as the harness measures, each call timed; calls in host-load
    windows where other processes used the CPU are left out as the harness leaves them out (all kept if
    fewer than 10 remain). Returns (TFLOP/s at the median call, calls left out)."""
    torch.set_num_threads(torch_threads())
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    for _ in range(3):
        torch.matmul(a, b, out=c)
    clean: list[int] = []
    contended: list[int] = []
    window: list[int] = []
    load = OthersCpu()
    end = time.perf_counter_ns() + int(seconds * 1e9)
    while (t0 := time.perf_counter_ns()) < end:
        torch.matmul(a, b, out=c)
        window.append(time.perf_counter_ns() - t0)
        if load.elapsed_s() >= CONTENTION_WINDOW_S:
            (contended if load.others_pct() > CONTENDED_OTHERS_PCT else clean).extend(window)
            window = []
            load.reset()
    clean += window
    times = clean if len(clean) >= 10 else clean + contended
    return 2 * n**3 / (statistics.median(times) * 1e-9) / 1e12, len(contended) if times is clean else 0


def gemm_pairs(store: Store, env: RunEnvironment, pairs: int) -> None:
    spec = BenchmarkSpec(name="selfcheck-gemm", kind="gemm", dtype="fp32", budget=BUDGET)
    params = {"shapes": [[GEMM_N, GEMM_N, GEMM_N]]}
    name = f"tflops_{GEMM_N}x{GEMM_N}x{GEMM_N}"
    ratios, harness, bare, dropped = [], [], [], 0
    for i in range(pairs):  # the order alternates, so drifting load hits both sides alike
        if i % 2 == 0:
            record = harness_record(store, env, spec, params)
            direct, left_out = bare_gemm_tflops(GEMM_N)
        else:
            direct, left_out = bare_gemm_tflops(GEMM_N)
            record = harness_record(store, env, spec, params)
        metric = record.metric(name)
        assert metric is not None
        harness.append(metric.value)
        bare.append(direct)
        ratios.append(metric.value / direct)
        dropped += left_out + int(metric.stats.get("contended_dropped", 0))
        print(f"  pair {i + 1}: harness {1e3 * metric.value:.1f} vs bare {1e3 * direct:.1f} GFLOP/s = "
              f"{metric.value / direct:.3f}x", flush=True)
    lo, hi = median_ci(np.sort(ratios))
    print(f"1. GEMM fp32 {GEMM_N}^3, {pairs} interleaved pairs: harness/bare median of pairs "
          f"{statistics.median(ratios):.3f}x (95 % CI {lo:.3f}-{hi:.3f}); harness median "
          f"{1e3 * statistics.median(harness):.1f} GFLOP/s, bare torch.matmul loop "
          f"{1e3 * statistics.median(bare):.1f} GFLOP/s; {dropped} contended calls left out "
          "(target >= 0.97x)")


def c_stream_triad(binary: Path, n: int) -> dict[str, float]:
    env = {"OMP_NUM_THREADS": str(torch_threads()), "OMP_PROC_BIND": "false"}
    out = subprocess.run(
        [str(binary), str(n), str(STREAM_NTIMES)], capture_output=True, text=True, check=True, env=env
    )
    return {k: float(v) for k, v in (line.split() for line in out.stdout.splitlines())}


def compile_stream(workdir: Path) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise SystemExit("no C compiler found (gcc/cc); install build-essential")
    binary = workdir / "stream_triad"
    subprocess.run(
        [cc, "-O3", "-fopenmp", "-march=native", str(HERE / "stream_triad.c"), "-o", str(binary)], check=True
    )
    return binary


def stream_check(store: Store, env: RunEnvironment, workdir: Path) -> None:
    llc = cpu_llc_bytes() or 64 * 2**20
    n = LLC_MULTIPLE * llc // 8
    spec = BenchmarkSpec(name="selfcheck-triad", kind="membw", dtype="fp64", budget=BUDGET)
    params = {"ops": ["triad"], "array_mib": n * 8 / 2**20}
    binary = compile_stream(workdir)
    rows: dict[str, list[float]] = {k: [] for k in ("h_best", "h_med", "c_best", "c_med")}
    for _ in range(STREAM_ROUNDS):  # alternate harness and reference so drifting load hits both
        record = harness_record(store, env, spec, params)
        rows["h_best"].append(record.metric("triad_best_gbps").value)  # type: ignore[union-attr]
        rows["h_med"].append(record.metric("triad_gbps").value)  # type: ignore[union-attr]
        c = c_stream_triad(binary, n)
        rows["c_best"].append(c["best_gbps"])
        rows["c_med"].append(c["median_gbps"])
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(
        f"2. STREAM triad, 3 x {n * 8 / 2**20:.0f} MiB fp64 arrays (4x LLC {llc / 2**20:.0f} MiB), median of "
        f"{STREAM_ROUNDS} alternating rounds: harness best {med['h_best']:.2f} / median {med['h_med']:.2f} "
        "GB/s "
        f"vs C STREAM (gcc -O3 -fopenmp -march=native) best {med['c_best']:.2f} / median {med['c_med']:.2f} "
        f"GB/s -> best {med['h_best'] / med['c_best']:.3f}x, median {med['h_med'] / med['c_med']:.3f}x "
        f"(target >= 0.90x)"
    )


def timer_overhead_us() -> tuple[float, float]:
    """Per-iteration cost of timing a no-op: as measure() reports it (batched), and per clock pair."""
    batched = statistics.median(measure(lambda: None, budget=Budget(max_time_s=1.0, min_time_s=0.5))) * 1e6
    timer = PerfCounterTimer()
    pairs = []
    for _ in range(20000):
        timer.start()
        pairs.append(timer.stop())
    return batched, statistics.median(pairs) * 1e6


def quick_runs(workdir: Path, env: RunEnvironment, runs: int) -> list[list[RunRecord]]:
    """``runs`` interleaved passes of the quick suite (every benchmark once per pass), records per pass."""
    suite = load_suite("quick")
    store = Store(str(workdir / "quick.db"))
    passes: list[list[RunRecord]] = []
    for i in range(runs):
        tagged = [replace(b, spec=b.spec.model_copy(update={"tags": {"pass": str(i)}}))
                  for b in suite.benchmarks]
        t0 = time.perf_counter()
        events = run_benchmarks(tagged, store, suite="quick", env=env)
        records = [e.record for e in events if e.record is not None]
        contended = sum(1 for r in records if r.telemetry.get("contended"))
        settle_s, kept_apart = placement_summary(records)
        statuses = {s: sum(r.status.value == s for r in records) for s in {r.status.value for r in records}}
        print(f"  quick run {i + 1}/{runs}: {time.perf_counter() - t0:.1f} s wall, statuses {statuses}, "
              f"{contended} of {len(records)} started on a contended host; vCPU placement: {settle_s:.1f} s "
              f"waited for the reference, {kept_apart} of {len(records)} kept rounds taken apart", flush=True)
        passes.append(records)
    return passes


def stability(passes: list[list[RunRecord]]) -> None:
    headline: dict[str, list[float]] = {}
    for records in passes:
        for r in records:
            if r.status is Status.ok and r.metrics:
                m = r.metrics[0]
                headline.setdefault(f"{r.benchmark}:{m.name} [{m.unit}]", []).append(m.value)
    cvs = {}
    for name, values in headline.items():
        if len(values) >= 2:
            cvs[name] = statistics.stdev(values) / statistics.mean(values)
            ok = "" if len(values) == len(passes) else f"  (ok in {len(values)} of {len(passes)} runs)"
            print(f"  {name:58s} median {statistics.median(values):.4g}  CV {100 * cvs[name]:.1f} %{ok}")
    worst = max(cvs, key=cvs.__getitem__)
    print(f"4. quick-suite headline run-to-run CV over {len(passes)} interleaved runs: median "
          f"{100 * statistics.median(cvs.values()):.1f} %, worst {100 * cvs[worst]:.1f} % "
          f"({worst.split(' [')[0]}) (target median <= 5 %)")


def aa_check(passes: list[list[RunRecord]]) -> None:
    """Every distinct 5-vs-5 split of the runs, every metric both sides report: how many are called
    different (faster/slower) by capplan.results.compare's rule although all runs measure the same."""
    n = len(passes)
    half = n // 2
    splits = [s for s in itertools.combinations(range(n), half) if 0 in s]  # each split once (A holds run 0)
    flagged = total = 0
    alternating = [0, 0]
    for a_idx in splits:
        a = [r for i in a_idx for r in passes[i]]
        b = [r for i in range(n) if i not in a_idx for r in passes[i]]
        rows = compare_runs(a, b)
        hits = sum(r.verdict in (FASTER, SLOWER) for r in rows)
        flagged += hits
        total += len(rows)
        if a_idx == tuple(range(0, n, 2))[:half]:
            alternating = [hits, len(rows)]
    print(f"5. A/A: {half} vs {n - half} runs of the same quick-suite benchmarks, all {len(splits)} distinct "
          f"splits: {flagged} of {total} metric comparisons called different = "
          f"{100 * flagged / max(total, 1):.1f} % false positives (alternating split: {alternating[0]} of "
          f"{alternating[1]}) (target <= 5 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=PAIRS, help="GEMM harness/bare pairs")
    parser.add_argument("--runs", type=int, default=RUNS, help="interleaved quick-suite runs (even, >= 6)")
    parser.add_argument("--skip", action="append", default=[], choices=["gemm", "stream", "timer", "quick"],
                        help="leave a part out (repeatable)")
    args = parser.parse_args()
    print(f"capplan harness self-check on {torch_threads()} threads, torch {torch.__version__}", flush=True)
    host_load("start")
    with tempfile.TemporaryDirectory(prefix="capplan-selfcheck-") as tmp:
        workdir = Path(tmp)
        store = Store(str(workdir / "selfcheck.db"))
        env = RunEnvironment.collect()
        if "gemm" not in args.skip:
            gemm_pairs(store, env, args.pairs)
        if "stream" not in args.skip:
            stream_check(store, env, workdir)
        if "timer" not in args.skip:
            batched, pair = timer_overhead_us()
            print(f"3. timer overhead: {batched:.3f} µs per iteration as measure() reports a no-op (batched "
                  f"rounds); {pair:.3f} µs per unbatched start/stop clock pair (target < 2 µs)")
        if "quick" not in args.skip:
            passes = quick_runs(workdir, env, args.runs)
            stability(passes)
            aa_check(passes)
    host_load("end")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
