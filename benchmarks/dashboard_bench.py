"""Dashboard speed check: seed a store with 10 000 runs, time the first page render.

    .venv/bin/python benchmarks/dashboard_bench.py [--runs 10000] [--repeats 3]

Renders the Overview page (the app's default page) with streamlit's AppTest in a fresh process,
so the time includes reading the store cold, building the frames and drawing. Target: < 3 s.
The seeded runs are synthetic (tagged ``origin=synthetic``) and only exercise the dashboard.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def synthetic_records(n: int, seed: int = 0) -> list[RunRecord]:
    """``n`` synthetic runs over three hosts, two suites and a few weeks, newest last."""
    rng = np.random.default_rng(seed)
    inventory = collect_inventory().model_dump(mode="json")  # this machine's, as the harness stores it
    return [
        _record(i, rng, START + timedelta(minutes=3 * i), HOSTS[i % len(HOSTS)], inventory) for i in range(n)
    ]


def seed_store(url: str, n: int, seed: int = 0, batch: int = 1000) -> None:
    """Write ``n`` synthetic runs to the store at ``url``."""
    store = Store(url)
    records = synthetic_records(n, seed)
    for lo in range(0, n, batch):
        store.add_many(records[lo : lo + batch])
    store.close()


_RENDER = """
import sys, time
from streamlit.testing.v1 import AppTest
times = []
t0 = time.perf_counter()
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
times.append(time.perf_counter() - t0)
t0 = time.perf_counter()
at.switch_page("sections/benchmarks.py").run()
times.append(time.perf_counter() - t0)
assert not at.exception, [e.message for e in at.exception]
print(*times)
"""


def first_render_s(url: str) -> tuple[float, float]:
    """Seconds to render the default page (Overview) once in a fresh Python process (cold caches), and
    then the Benchmarks page (first visit: loads the newest 300 full records)."""
    env = dict(os.environ, CAPPLAN_STORE=url)
    out = subprocess.run([sys.executable, "-c", _RENDER, str(APP)], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    overview, benchmarks = map(float, out.stdout.strip().splitlines()[-1].split())
    return overview, benchmarks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        seed_store(url, args.runs)
        print(f"seeded {args.runs:,} runs in {time.perf_counter() - t0:.1f} s")
        pairs = [first_render_s(url) for _ in range(args.repeats)]
    for label, times in (("first page (Overview)", [p[0] for p in pairs]),
                         ("then Benchmarks page", [p[1] for p in pairs])):
        print(
            f"{label} render with {args.runs:,} runs: median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}; {args.repeats} fresh processes; target < 3 s for "
            f"the first page)"
        )


if __name__ == "__main__":
    main()
