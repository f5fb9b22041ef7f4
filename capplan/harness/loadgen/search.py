"""Max-QPS search for the Server scenario: the highest target QPS that LoadGen accepts under the latency
bound. This is the capacity figure a planner sizes a fleet with.

The search assumes validity is monotone in QPS (true for a queue in steady state, noisy near the
edge): it first grows the rate from ``start_qps`` until a run fails (or shrinks it until one passes),
then bisects between the highest passing and the lowest failing rate until they are within
``rel_tol`` of each other or ``max_runs`` runs were spent. Only rates that actually passed are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from capplan.harness.loadgen.logs import LoadGenResult

Criterion = Literal["valid", "latency"]
GROWTH = 2.0  # bracketing step: double (or halve) the rate until the edge is bracketed


class Trial(BaseModel):
    target_qps: float
    passed: bool
    valid: bool
    achieved_samples_per_s: float | None
    latency_p99_ms: float | None
    reasons: list[str]


class SearchResult(BaseModel):
    max_qps: float = Field(description="highest target QPS that passed (0 when none did)")
    best: LoadGenResult | None = Field(None, description="LoadGen's result at max_qps")
    criterion: Criterion
    upper_failed_qps: float | None = Field(None, description="lowest target QPS that failed")
    trials: list[Trial]


def passes(result: LoadGenResult, criterion: Criterion) -> bool:
    """``valid``: LoadGen's VALID (latency bound, duration, query count and early stopping all met).
    ``latency``: the latency bound, duration and query count are met, without early stopping's
    confidence requirement (which needs thousands of queries near the edge; short runs use this)."""
    if criterion == "valid":
        return result.valid
    return all(result.checks.get(key, False) for key in LATENCY_CHECKS)


LATENCY_CHECKS = ("result_perf_constraints_met", "result_min_duration_met", "result_min_queries_met")


def search_max_qps(
    run_at: Callable[[float], LoadGenResult],
    start_qps: float,
    *,
    criterion: Criterion = "valid",
    rel_tol: float = 0.05,
    max_runs: int = 12,
) -> SearchResult:
    """Bracket, then bisect, the highest passing target QPS. ``run_at(qps)`` runs one Server test."""
    trials: list[Trial] = []
    results: dict[float, LoadGenResult] = {}

    def attempt(qps: float) -> bool:
        res = run_at(qps)
        ok = passes(res, criterion)
        results[qps] = res
        trials.append(
            Trial(
                target_qps=qps,
                passed=ok,
                valid=res.valid,
                achieved_samples_per_s=res.samples_per_s,
                latency_p99_ms=res.latency_percentiles_ms.get("99"),
                reasons=res.reasons,
            )
        )
        return ok

    lo: float | None = None  # highest passing rate
    hi: float | None = None  # lowest failing rate
    qps = start_qps
    while len(trials) < max_runs and (lo is None or hi is None):
        if attempt(qps):
            lo = qps
            qps *= GROWTH
        else:
            hi = qps
            qps /= GROWTH
    while lo is not None and hi is not None and len(trials) < max_runs and (hi - lo) > rel_tol * lo:
        mid = (lo + hi) / 2
        if attempt(mid):
            lo = mid
        else:
            hi = mid
    return SearchResult(max_qps=lo or 0.0, best=results.get(lo) if lo else None, criterion=criterion,
                        upper_failed_qps=hi, trials=trials)
