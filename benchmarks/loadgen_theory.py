"""LoadGen's Server max-QPS search against queueing theory (a timing check, so a benchmark, not a test).

A SUT with c = 2 workers and exponential service (mean 4 ms) under LoadGen's Poisson arrivals is an
M/M/2 queue: the highest rate whose p99 time in system stays within 40 ms follows from Erlang C. The
search (``capplan.harness.loadgen.search.search_max_qps``) runs real LoadGen trials against it; each
repeat prints the rate it found, the rate theory gives for the measured service rate, and the host load.
Short trials (~600 queries) estimate the p99 from their top few samples, so expect scatter of ~10 %.

    .venv/bin/python benchmarks/loadgen_theory.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Sequence

import numpy as np
from scipy import optimize

from capplan.harness.loadgen.logs import LoadGenResult
from capplan.harness.loadgen.search import search_max_qps
from capplan.harness.loadgen.settings import ScenarioSettings
from capplan.harness.loadgen.sut import run_loadgen
from capplan.planner.queueing import response_quantile_s

SERVERS, MEAN_SERVICE_S, BOUND_S = 2, 0.004, 0.040


def one_search(seed: int) -> tuple[float, float]:
    """(rate the search found, rate from Erlang C for the measured service rate), both in queries/s."""
    rng = np.random.default_rng(seed)
    lock = threading.Lock()
    service_s: list[float] = []

    def process(_indices: Sequence[int]) -> None:
        with lock:
            d = rng.exponential(MEAN_SERVICE_S)
        t0 = time.perf_counter()
        time.sleep(d)
        service_s.append(time.perf_counter() - t0)

    def run_at(qps: float) -> LoadGenResult:
        settings = ScenarioSettings(scenario="Server", target_qps=qps, latency_bound_ms=BOUND_S * 1e3,
                                    min_duration_ms=1500, min_query_count=300, max_duration_ms=4000)
        return run_loadgen(process, settings, total_samples=64, workers=SERVERS).result

    found = search_max_qps(run_at, start_qps=250, criterion="latency", rel_tol=0.05, max_runs=8)
    mu = 1 / float(np.mean(service_s))  # measured: sleep overshoots by tens of microseconds
    # M/M/c: capplan's queueing tail is exact for exponential service (cv = 1)
    def p99_over_bound_s(lam: float) -> float:
        return response_quantile_s(0.99, SERVERS, lam, 1 / mu, 1.0) - BOUND_S

    theory = optimize.brentq(p99_over_bound_s, 1e-3, SERVERS * mu * (1 - 1e-9))
    return found.max_qps, theory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ratios = []
    for seed in range(args.repeats):
        load = os.getloadavg()[0]
        found, theory = one_search(seed)
        ratios.append(found / theory)
        print(f"search {seed + 1}: {found:.0f} QPS found vs {theory:.0f} QPS from Erlang C "
              f"({100 * (found / theory - 1):+.0f} %); host load (1-min average) {load:.1f} on "
              f"{os.cpu_count()} CPUs")
    print(f"median found/theory {statistics.median(ratios):.2f} over {len(ratios)} searches "
          f"(M/M/{SERVERS}, {MEAN_SERVICE_S * 1e3:g} ms mean service, p99 <= {BOUND_S * 1e3:g} ms)")


if __name__ == "__main__":
    main()
