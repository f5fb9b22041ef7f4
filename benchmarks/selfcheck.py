"""Harness self-check: does capplan measure what the tools people trust measure?

Prints, for this machine (run by `make bench-selfcheck`; never asserted in tests):
  1. harness GEMM TFLOP/s vs a direct torch.matmul loop        (target >= 0.97x)
  2. harness STREAM triad GB/s vs a compiled C STREAM triad     (target >= 0.90x)
  3. timer overhead per iteration                               (target < 2 us)
  4. quick-suite headline medians: CV across 3 runs             (target <= 5 %)
Harness figures come from real benchmark subprocesses (the runner), references from this process
or the C program, alternated ROUNDS times; the median of the rounds is reported.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from capplan.harness.kinds.membw import LLC_MULTIPLE, cpu_llc_bytes
from capplan.harness.runner import PlannedBenchmark, RunEnvironment, run_benchmarks, torch_threads
from capplan.harness.spec import BenchmarkSpec, Budget
from capplan.harness.suite import load_suite
from capplan.harness.timing import PerfCounterTimer, measure
from capplan.results.store import Store

ROUNDS = 3  # alternations of harness and reference; also the number of quick-suite runs
GEMM_N = 1024
STREAM_NTIMES = 20
BUDGET = Budget(warmup_max_s=1.0, min_iters=10, min_time_s=1.0, max_time_s=3.0)
HERE = Path(__file__).resolve().parent


def harness_metrics(
    store: Store, env: RunEnvironment, spec: BenchmarkSpec, params: dict, *names: str
) -> list[float]:
    """Run one benchmark through the runner (its own subprocess) and return the named metrics."""
    (event,) = run_benchmarks([PlannedBenchmark(spec, params)], store, suite="selfcheck", env=env)
    record = event.record
    metrics = [record.metric(name) for name in names] if record else []
    if record is None or None in metrics:
        raise SystemExit(f"harness run of {spec.name} failed: {record.error if record else 'no record'}")
    return [m.value for m in metrics]  # type: ignore[union-attr]


def direct_gemm_tflops(n: int, seconds: float = BUDGET.max_time_s) -> float:
    """A bare torch.matmul loop for as long as the harness measures; rate at the median call time."""
    torch.set_num_threads(torch_threads())
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    for _ in range(3):
        torch.matmul(a, b, out=c)
    times: list[int] = []
    end = time.perf_counter_ns() + int(seconds * 1e9)
    while (t0 := time.perf_counter_ns()) < end:
        torch.matmul(a, b, out=c)
        times.append(time.perf_counter_ns() - t0)
    return 2 * n**3 / (statistics.median(times) * 1e-9) / 1e12


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


def timer_overhead_us() -> tuple[float, float]:
    """Per-iteration cost of timing a no-op: as measure() reports it (batched), and per clock pair."""
    batched = statistics.median(measure(lambda: None, budget=Budget(max_time_s=1.0, min_time_s=0.5))) * 1e6
    timer = PerfCounterTimer()
    pairs = []
    for _ in range(20000):
        timer.start()
        pairs.append(timer.stop())
    return batched, statistics.median(pairs) * 1e6


def quick_suite_cv(workdir: Path, env: RunEnvironment) -> None:
    suite = load_suite("quick")
    headline: dict[str, list[float]] = {}
    for i in range(ROUNDS):
        store = Store(str(workdir / f"quick{i}.db"))
        t0 = time.perf_counter()
        events = run_benchmarks(suite.benchmarks, store, suite="quick", env=env)
        statuses = [e.record.status.value for e in events if e.record]
        print(
            f"  quick run {i + 1}: {time.perf_counter() - t0:.1f} s wall (excl. inventory), statuses "
            f"{statuses}"
        )
        for e in events:
            if e.record and e.record.metrics:
                m = e.record.metrics[0]
                headline.setdefault(f"{e.spec.name}:{m.name} [{m.unit}]", []).append(m.value)
    cvs = []
    for name, values in headline.items():
        if len(values) == ROUNDS:
            cv = statistics.stdev(values) / statistics.mean(values)
            cvs.append(cv)
            print(f"  {name:60s} medians {', '.join(f'{v:.4g}' for v in values)}  CV {100 * cv:.1f} %")
    if cvs:
        print(
            f"4. quick-suite headline CV across {ROUNDS} runs: median {100 * statistics.median(cvs):.1f} %, "
            f"max {100 * max(cvs):.1f} % (target <= 5 %)"
        )


def main() -> None:
    print(f"capplan harness self-check on {torch_threads()} threads, torch {torch.__version__}")
    with tempfile.TemporaryDirectory(prefix="capplan-selfcheck-") as tmp:
        workdir = Path(tmp)
        store = Store(str(workdir / "selfcheck.db"))
        env = RunEnvironment.collect()
        gemm = BenchmarkSpec(name="selfcheck-gemm", kind="gemm", dtype="fp32", budget=BUDGET)
        gemm_params = {"shapes": [[GEMM_N, GEMM_N, GEMM_N]]}
        llc = cpu_llc_bytes() or 64 * 2**20
        n = LLC_MULTIPLE * llc // 8
        triad = BenchmarkSpec(name="selfcheck-triad", kind="membw", dtype="fp64", budget=BUDGET)
        triad_params = {"ops": ["triad"], "array_mib": n * 8 / 2**20}
        binary = compile_stream(workdir)
        rows: dict[str, list[float]] = {
            k: [] for k in ("h_gemm", "d_gemm", "h_best", "h_med", "c_best", "c_med")
        }
        for _ in range(ROUNDS):  # alternate harness and reference so drifting load hits both
            rows["h_gemm"] += harness_metrics(
                store, env, gemm, gemm_params, f"tflops_{GEMM_N}x{GEMM_N}x{GEMM_N}"
            )
            rows["d_gemm"].append(direct_gemm_tflops(GEMM_N))
            best, median = harness_metrics(store, env, triad, triad_params, "triad_best_gbps", "triad_gbps")
            rows["h_best"].append(best)
            rows["h_med"].append(median)
            c = c_stream_triad(binary, n)
            rows["c_best"].append(c["best_gbps"])
            rows["c_med"].append(c["median_gbps"])
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(
            f"1. GEMM fp32 {GEMM_N}^3: harness {1e3 * med['h_gemm']:.1f} GFLOP/s vs direct torch.matmul loop "
            f"{1e3 * med['d_gemm']:.1f} GFLOP/s -> {med['h_gemm'] / med['d_gemm']:.3f}x (target >= 0.97x)"
        )
        print(
            f"2. STREAM triad, 3 x {n * 8 / 2**20:.0f} MiB fp64 arrays (4x LLC {llc / 2**20:.0f} MiB): "
            f"harness best {med['h_best']:.2f} / median {med['h_med']:.2f} GB/s vs C STREAM (gcc -O3 "
            f"-fopenmp "
            f"-march=native) best {med['c_best']:.2f} / median {med['c_med']:.2f} GB/s -> best "
            f"{med['h_best'] / med['c_best']:.3f}x, "
            f"median {med['h_med'] / med['c_med']:.3f}x (target >= 0.90x)"
        )
        batched, pair = timer_overhead_us()
        print(
            f"3. timer overhead: {batched:.3f} µs per iteration as measure() reports a no-op (batched "
            f"rounds); "
            f"{pair:.3f} µs per unbatched start/stop clock pair (target < 2 µs)"
        )
        quick_suite_cv(workdir, env)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
