"""Dashboard speed check: seed a store with 100 000 runs, time the Overview and Benchmarks pages.

    .venv/bin/python benchmarks/dashboard_bench.py [--runs 100000] [--repeats 5] [--store FILE]

Each repeat is a fresh Python process that renders the Overview page (the app's default page) with
streamlit's AppTest, then switches to the Benchmarks page, as a user would: the Overview time includes
importing the app, opening the store and reading it cold. Target: < 3 s for each. The medians are
printed with the host's load average (the figures move with other processes on a shared machine).
The seeded runs are synthetic (tagged ``origin=synthetic``) and only exercise the dashboard; seeding
100 000 takes minutes, so ``--store FILE`` keeps the seeded SQLite file for later measurements.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from capplan.hardware.inventory import collect_inventory
from capplan.results.schema import Metric, RunRecord, Status
from capplan.results.stats import metric_from_samples
from capplan.results.store import Store

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboards" / "app.py"
HOSTS = ("a1b2c3d4e5f60001", "a1b2c3d4e5f60002", "a1b2c3d4e5f60003")
BATCHES = (1, 4, 16, 64)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _add(metrics: list[Metric], samples: dict[str, list[float]], name: str, values: np.ndarray, unit: str,
         **kwargs: Any) -> None:
    """Record a metric and its per-sample values under its name, as the harness does."""
    metrics.append(metric_from_samples(name, values, unit, **kwargs))
    samples[name] = [float(v) for v in values]


def _record(
    i: int, rng: np.random.Generator, when: datetime, host: str, inventory: dict[str, Any]
) -> RunRecord:
    """One synthetic run of a rotating mix of kinds, shaped like the harness's records."""
    slot = i % 7
    status, backend = Status.ok, "eager"
    metrics: list[Metric] = []
    samples: dict[str, list[float]] = {}
    params: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    if slot == 0:  # gemm 1024^3 fp32
        bench, kind, n = "gemm-fp32", "gemm", 1024
        params, facts = {"shapes": [[n, n, n]]}, {"flops_per_call": {f"{n}x{n}x{n}": 2.0 * n**3}}
        tflops = 2.0 * n**3 / 1e12 / rng.normal(0.012, 0.0004, 40).clip(1e-4)
        _add(metrics, samples, f"tflops_{n}x{n}x{n}", tflops, "TFLOP/s")
    elif slot == 1:  # membw triad
        bench, kind = "membw", "membw"
        params = {"ops": ["triad"]}
        _add(metrics, samples, "triad_gbps", rng.normal(38.0, 1.5, 20), "GB/s")
    elif slot == 2:  # dispatch overhead
        bench, kind = "dispatch", "dispatch"
        _add(
            metrics,
            samples,
            "add_latency_us",
            rng.lognormal(np.log(6.0), 0.1, 200),
            "µs",
            higher_is_better=False,
        )
    else:  # bert inference batch sweep on one of two backends, all batch sizes in one record
        backend = "eager" if slot % 2 else "onnxruntime"
        bench, kind = f"bert-infer-{backend}", "infer"
        params = {"model": "bert", "size": "tiny", "batches": list(BATCHES), "slo_p99_ms": 200.0}
        facts = {
            "model": "bert",
            "size": "tiny",
            "backend": backend,
            "flops_per_sample": 2.1e8,
            "slo_p99_ms": 200.0,
        }
        for batch in BATCHES:
            ms = rng.lognormal(
                np.log((2.0 if backend == "onnxruntime" else 2.6) * (1 + 0.9 * batch)), 0.08, 120
            )
            _add(metrics, samples, f"latency_ms_b{batch}", ms, "ms", higher_is_better=False)
            _add(metrics, samples, f"throughput_samples_per_s_b{batch}", 1e3 * batch / ms, "samples/s")
        if i % 97 == 0:
            status, metrics, samples = Status.failed, [], {}
    config = {"benchmark": bench, "kind": kind, "device": "cpu", "dtype": "fp32", "backend": backend,
              "params": params, "seed": 0, "torch_threads": 2, "facts": facts}
    return RunRecord(
        benchmark=bench, kind=kind, suite="quick" if i % 3 else "standard", config=config,
        host_fingerprint=host, inventory=inventory | {"fingerprint": host},
        software={"torch": "2.13.0"}, started_utc=when, ended_utc=when + timedelta(seconds=2),
        status=status, error=None if status is Status.ok else "RuntimeError: synthetic failure",
        metrics=metrics, samples=samples, tags={"origin": "synthetic"}, seed=i,
    )


def synthetic_records(n: int, seed: int = 0) -> Iterator[RunRecord]:
    """``n`` synthetic runs over three hosts, two suites and a few weeks (a run every 3 minutes), oldest
    first."""
    rng = np.random.default_rng(seed)
    inventory = collect_inventory().model_dump(mode="json")  # this machine's, as the harness stores it
    for i in range(n):
        yield _record(i, rng, START + timedelta(minutes=3 * i), HOSTS[i % len(HOSTS)], inventory)


def seed_store(url: str, n: int, seed: int = 0, batch: int = 1000) -> None:
    """Write ``n`` synthetic runs to the store at ``url``, ``batch`` per transaction (never all in memory)."""
    store = Store(url)
    pending: list[RunRecord] = []
    for record in synthetic_records(n, seed):
        pending.append(record)
        if len(pending) == batch:
            store.add_many(pending)
            pending = []
    store.add_many(pending)
    store.close()


_RENDER = """
import sys, time
from streamlit.testing.v1 import AppTest
times = []
t0 = time.perf_counter()
at = AppTest.from_file(sys.argv[1], default_timeout=300).run()
times.append(time.perf_counter() - t0)
assert not at.exception, [e.message for e in at.exception]
assert at.title[0].value == "Overview", at.title
t0 = time.perf_counter()
at.switch_page("sections/benchmarks.py").run()
times.append(time.perf_counter() - t0)
assert not at.exception, [e.message for e in at.exception]
assert at.title[0].value == "Benchmarks", at.title
print(*times)
"""
PAGES = ("Overview (first page, fresh process)", "Benchmarks (next page, first visit)")


def render_s(url: str) -> tuple[float, float]:
    """Seconds to render the default page (Overview) once in a fresh Python process (cold caches), and
    then the Benchmarks page (first visit: filter choices, the matching count and the newest page of runs)."""
    env = dict(os.environ, CAPPLAN_STORE=url)
    out = subprocess.run([sys.executable, "-c", _RENDER, str(APP)], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    overview, benchmarks = map(float, out.stdout.strip().splitlines()[-1].split())
    return overview, benchmarks


def host_load() -> str:
    """The load average (1/5/15 min) beside the CPU count, so figures from a busy host can be told apart."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def prepared_store(path: Path, runs: int) -> str:
    """URL of a SQLite store at ``path`` holding ``runs`` synthetic runs, seeded unless already there."""
    url = f"sqlite:///{path}"
    held = Store(url).count() if path.exists() else 0
    if held == runs:
        print(f"reusing {path} ({runs:,} runs)")
        return url
    if held:
        sys.exit(f"--store: {path} holds {held:,} runs, not {runs:,}; give another file or --runs {held}")
    t0 = time.perf_counter()
    seed_store(url, runs)
    print(f"seeded {runs:,} runs in {time.perf_counter() - t0:.0f} s into {path}")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="synthetic runs in the store")
    parser.add_argument(
        "--repeats", type=int, default=5, help="fresh processes to time (the median is reported)"
    )
    parser.add_argument(
        "--store", type=Path, help="SQLite file to seed once and reuse (default: a temporary file)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = prepared_store(args.store or Path(tmp) / "bench.db", args.runs)
        print(f"before: {host_load()}")
        pairs = [render_s(url) for _ in range(args.repeats)]
        print(f"after:  {host_load()}")
    for i, label in enumerate(PAGES):
        times = [p[i] for p in pairs]
        print(f"{label} with {args.runs:,} runs: median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}; {args.repeats} fresh processes; target < 3 s)")


if __name__ == "__main__":
    main()
