"""`capplan plan --verify`: check each sized fleet by discrete-event simulation and add replicas until the
simulated tail meets the SLO.

Queueing formulas size fleets (capplan.planner.queueing); their M/G/c tail is an approximation (for
deterministic service it is a few per cent optimistic). Here each inference fleet is simulated
(capplan.planner.simulate: an exact FIFO c-server model) at its peak demand — the quarter with the
highest arrival rate, at the plan's burstiness — with the plan's service-time distribution (mean and
cv), over SEEDS independent replications of Poisson arrivals, each long enough to relax from its empty
start (capplan.planner.simulate.requests_for; the first WARMUP_FRACTION excluded). The simulated p99
is that of all replications' responses pooled; its 95 % upper confidence bound comes from the spread
of the replications' own p99s (Student t). Near full utilisation a replication's p99 varies by 10-20 %
between seeds, so one seed, or the worst of a few, is not a safe criterion. While the upper bound
exceeds the SLO, one replica (its slots) is added. The replicas added at the peak are added to every
quarter's fleet (average and peak load) that serves traffic. The result lists the analytic and the
simulated p99 side by side.

Each kind of fit has its own verifier in VERIFIERS (a function of the workload, its fit and the plan);
kinds without one are not simulated. LLM serving fleets (sized by TTFT/TPOT) are simulated under
continuous batching with the projection's phase model (capplan.planner.llm.verify_llm_fit) at the peak
quarter; replicas are added until both p99s meet their SLOs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from capplan.catalog import Catalog
from capplan.planner.plan import Plan, Workload
from capplan.planner.queueing import response_quantile_s
from capplan.planner.result import LlmVerificationRow, VerificationRow
from capplan.planner.simulate import WARMUP_FRACTION, requests_for, simulate_response_times_s
from capplan.planner.sizing import Fit, Sizing, resize_inference, resize_llm

SEEDS = (0, 1, 2, 3, 4)
QUANTILE = 0.99
CI_LEVEL = 0.95
MAX_ADDED_REPLICAS = 50  # a fleet still missing its SLO after this many more replicas is reported as such


@dataclass
class FleetCheck:
    """What the simulation of one fleet found, and how many servers (slots) it had to add."""

    row: VerificationRow
    added_servers: int


@dataclass
class FleetSim:
    """p99 response time (s) of a simulated fleet: pooled over replications, and its upper CI bound."""

    p99_s: float
    upper_s: float
    per_seed_s: list[float]
    requests: int  # per replication


def simulate_p99(servers: int, arrival_per_s: float, mean_service_s: float, cv: float,
                 seeds: tuple[int, ...] = SEEDS, requests: int | None = None) -> FleetSim:
    """Simulate ``seeds`` replications; pooled p99 and the one-sided CI_LEVEL upper bound of the p99 from
    the replications' p99s (mean + t * sd / sqrt(k); with one seed, the bound is that seed's p99)."""
    requests = requests or requests_for(servers, arrival_per_s, mean_service_s, cv)
    skip = int(WARMUP_FRACTION * requests)
    runs = [simulate_response_times_s(servers, arrival_per_s, mean_service_s, cv, requests=requests,
                                      seed=seed)[skip:] for seed in seeds]
    per_seed = [float(np.quantile(r, QUANTILE)) for r in runs]
    pooled = float(np.quantile(np.concatenate(runs), QUANTILE))
    k = len(per_seed)
    if k < 2:
        return FleetSim(pooled, max(pooled, per_seed[0]), per_seed, requests)
    half = float(stats.t.ppf(CI_LEVEL, k - 1)) * float(np.std(per_seed, ddof=1)) / k**0.5
    return FleetSim(pooled, max(pooled, float(np.mean(per_seed)) + half), per_seed, requests)


def verified_servers(arrival_per_s: float, mean_service_s: float, cv: float, slo_s: float, start: int,
                     step: int = 1, seeds: tuple[int, ...] = SEEDS) -> tuple[int, FleetSim, FleetSim]:
    """Servers from ``start`` up in ``step``s (one replica's slots) until the simulated p99's upper bound is
    within ``slo_s`` (at most MAX_ADDED_REPLICAS steps): (servers, simulation at ``start``, at the result)."""
    c = start
    first = sim = simulate_p99(c, arrival_per_s, mean_service_s, cv, seeds)
    while sim.upper_s > slo_s and c < start + MAX_ADDED_REPLICAS * step:
        c += step
        sim = simulate_p99(c, arrival_per_s, mean_service_s, cv, seeds)
    return c, first, sim


def verify_inference(w: Workload, fit: Fit, plan: Plan) -> FleetCheck:
    """Simulate an inference fleet (M/G/c slots) at its peak quarter; add replicas until every seed's p99
    upper bound is within the SLO."""
    d = fit.details
    q = int(np.argmax(fit.demand))
    arrival = float(fit.demand[q] * w.burstiness)
    service_s = d["service_time_ms"] / 1000.0
    slo_s = w.slo.p99_latency_ms / 1000.0
    slots = int(d["slots_per_replica"])
    analytic_c = int(d["servers_peak"][q])
    cv = w.service_time_cv
    if arrival <= 0 or analytic_c <= 0:  # no traffic in any quarter: nothing to simulate
        idle = FleetSim(0.0, 0.0, [], 0)
        return FleetCheck(_row(w, fit, plan, q, arrival, service_s, analytic_c, analytic_c, 0.0, idle, idle,
                               note="no traffic"), 0)
    c, first, sim = verified_servers(arrival, service_s, cv, slo_s, analytic_c, slots)
    analytic_ms = 1e3 * response_quantile_s(QUANTILE, analytic_c, arrival, service_s, cv)
    return FleetCheck(_row(w, fit, plan, q, arrival, service_s, analytic_c, c, analytic_ms, first, sim),
                      c - analytic_c)


def _row(w: Workload, fit: Fit, plan: Plan, q: int, arrival: float, service_s: float, analytic_c: int, c: int,
         analytic_ms: float, first: FleetSim, sim: FleetSim, note: str = "") -> VerificationRow:
    slots = int(fit.details["slots_per_replica"])
    met = sim.upper_s <= w.slo.p99_latency_ms / 1000.0
    return VerificationRow(
        workload=w.name,
        accelerator=fit.accelerator,
        quarter=plan.quarter_label(q),
        arrival_per_s=arrival,
        service_time_ms=service_s * 1000.0,
        service_time_cv=w.service_time_cv,
        slo_p99_ms=w.slo.p99_latency_ms,
        servers_analytic=analytic_c,
        servers_verified=c,
        replicas_added=(c - analytic_c) // slots,
        analytic_p99_ms=analytic_ms,
        simulated_p99_ms_at_analytic=first.p99_s * 1e3,
        simulated_p99_ms=sim.p99_s * 1e3,
        simulated_p99_upper_ms=sim.upper_s * 1e3,
        seeds=len(SEEDS),
        requests_per_seed=sim.requests,
        met=met,
        note=note or ("" if met else f"still above the SLO after {MAX_ADDED_REPLICAS} more replicas"),
    )


def verify_llm(w: Workload, fit: Fit, plan: Plan, catalog: Catalog, store: Any
               ) -> tuple[LlmVerificationRow | None, int]:
    """Simulate an LLM fleet at its peak quarter; add serving replicas until the simulated TTFT and TPOT
    p99s meet the SLOs. (None, 0) for a fit sized from measured runs (those runs are its check)."""
    from capplan.planner.llm import verify_llm_fit

    acc = catalog.accelerator(fit.accelerator)
    q = int(np.argmax(fit.demand))
    sized = int(fit.details["replicas_peak"][q])
    first = verify_llm_fit(w, acc, fit, catalog, store, q)
    if isinstance(first, str):
        return None, 0
    replicas, found = sized, first
    while not found["meets_slo"] and replicas < sized + MAX_ADDED_REPLICAS:
        replicas += 1
        found = verify_llm_fit(w, acc, fit, catalog, store, q, replicas=replicas)
        assert not isinstance(found, str)
    met = bool(found["meets_slo"])
    return LlmVerificationRow(
        workload=w.name,
        accelerator=fit.accelerator,
        quarter=plan.quarter_label(q),
        arrival_per_s=float(fit.demand[q] * w.burstiness),
        replicas_sized=sized,
        replicas_verified=replicas,
        replicas_added=replicas - sized,
        ttft_p99_ms_at_sized=first["ttft_p99_ms"],
        tpot_p99_ms_at_sized=first["tpot_p99_ms"],
        ttft_p99_ms=found["ttft_p99_ms"],
        tpot_p99_ms=found["tpot_p99_ms"],
        slo_ttft_p99_ms=w.slo.ttft_p99_ms,
        slo_tpot_p99_ms=w.slo.tpot_p99_ms,
        met=met,
        note="" if met else f"still above the SLOs after {MAX_ADDED_REPLICAS} more replicas",
    ), replicas - sized


Verifier = Callable[[Workload, Fit, Plan], FleetCheck]
VERIFIERS: dict[str, Verifier] = {"inference": verify_inference}


def verify_sizing(plan: Plan, sizing: Sizing, catalog: Catalog, store: Any = None
                  ) -> tuple[list[VerificationRow], list[LlmVerificationRow]]:
    """Simulate every fit that has a verifier (LLM fits by continuous batching, others by their workload
    type); fits that needed more replicas are resized in ``sizing`` (in place) so placement and costs use
    the verified fleet."""
    rows: list[VerificationRow] = []
    llm_rows: list[LlmVerificationRow] = []
    workloads = {w.name: w for w in plan.workloads}
    for key, fit in list(sizing.fits.items()):
        w = workloads[fit.workload]
        if fit.details.get("llm"):
            llm_row, added = verify_llm(w, fit, plan, catalog, store)
            if added:
                sizing.fits[key] = resize_llm(fit, w, plan, added)
            if llm_row is not None:
                llm_rows.append(llm_row)
            continue
        verifier = VERIFIERS.get(w.type)
        if verifier is None:
            continue
        check = verifier(w, fit, plan)
        if check.added_servers:
            sizing.fits[key] = resize_inference(fit, w, plan, catalog, check.added_servers)
        rows.append(check.row)
    return rows, llm_rows
