"""MLPerf LoadGen scenarios (SingleStream, MultiStream, Server, Offline) over any inference backend,
plus the Server max-QPS search.

The backend is loaded and checked against eager torch exactly as the ``infer`` kind does; then a
pool of synthetic samples is generated and LoadGen drives the SUT adapter. LoadGen's verdict (VALID or
INVALID) and its reasons are stored as they are: a short run that LoadGen calls INVALID is a
successful benchmark whose result carries ``loadgen_valid = 0`` and the reason lines.

Infeasible Server constraints end the run with status ``infeasible`` as soon as they are known: right
after calibration when the latency bound is below the median one-sample service time, after any
LoadGen run whose service times alone (100 or more calls) put the p99 above the bound, and after a
max-QPS search in which no rate passed. A host-dependent bound (``latency_bound_min_x_service``) is
derived from the calibration and recorded with its rule.

Each latency metric carries the order-statistic CI of its percentile over the adapter's own
per-sample (per-query for MultiStream) latencies and the noise flag; a percentile the query count
cannot support (p99 needs 100, p99.9 1000) is not reported. Throughput carries the spread of its
rate over WINDOWS equal slices of the run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from importlib import metadata
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, Field

from capplan.hardware import placement
from capplan.hardware.telemetry import CONTENDED_OTHERS_PCT, OthersCpu
from capplan.harness.backends import BACKENDS
from capplan.harness.kinds.model_common import load_backend, setup_model, verify_backend
from capplan.harness.loadgen.logs import LoadGenResult
from capplan.harness.loadgen.search import Criterion, search_max_qps
from capplan.harness.loadgen.settings import ScenarioSettings
from capplan.harness.loadgen.sut import LoadGenRun, run_loadgen
from capplan.harness.metrics import NOT_REPORTED, add_metric, record_placement
from capplan.harness.spec import (
    BenchmarkInfeasible,
    BenchmarkSpec,
    Budget,
    KindResult,
    Role,
    RunContext,
    Task,
)
from capplan.harness.timing import measure
from capplan.results.schema import Metric
from capplan.results.stats import DEFAULT_TARGET_REL_CI, is_noisy, min_samples, percentile_note, quantile_ci
from capplan.workloads import TORCH_DTYPES, WorkloadParams

# Service-time calibration before LoadGen starts: the median of a few timed calls at batch 1 and at
# max_batch sets LoadGen's expected latency / QPS, so it generates enough queries for the duration.
CALIBRATION_BUDGET = Budget(warmup_min_iters=1, warmup_max_s=0.3, min_iters=5, max_iters=50, min_time_s=0.1,
                            max_time_s=0.5)
# The search starts at half the calibrated capacity (workers x max_batch / service time): queueing
# delay usually breaks a latency bound well before full utilisation.
SEARCH_START_UTILISATION = 0.5
# Offline issues all its samples as one query sized expected QPS x min duration; an underestimate
# ends the run early (INVALID: min duration), an overestimate only lengthens it, so aim high.
OFFLINE_QPS_MARGIN = 2.0
# A search run at a low rate would need min_query_count / rate seconds; without a cap of its own it
# stops after this many min durations (LoadGen then reports min queries unmet: a failed rate).
SEARCH_MAX_DURATION_FACTOR = 3
# A search run lasts long enough for min_query_count queries at its rate, with this margin (Poisson
# arrivals fall short of the mean rate about half the time).
SEARCH_QUERY_MARGIN = 1.5
WINDOWS = 20  # equal slices of a run whose completion rates give the throughput's spread
SERVICE_P99 = 0.99


class LoadGenParams(WorkloadParams, ScenarioSettings):
    workers: int = Field(
        1, ge=1, description="SUT threads issuing model calls (1 on CPU: torch already uses all cores)"
    )
    max_batch: int = Field(
        1, ge=1, description="dynamic batching: a worker takes up to this many waiting samples"
    )
    sample_count: int = Field(64, ge=1, description="synthetic samples in LoadGen's QSL (generated up front)")
    calibrate: bool = Field(
        True, description="set expected latency/QPS from a short timing unless given explicitly"
    )
    search_max_qps: bool = Field(False, description="Server: search the highest passing target QPS")
    search_criterion: Criterion = Field(
        "valid", description="valid (LoadGen VALID) or latency (bound met, no early stopping)"
    )
    search_rel_tol: float = Field(
        0.05, gt=0, lt=1, description="search stops when the bracket is this narrow"
    )
    search_max_runs: int = Field(8, ge=2, description="LoadGen runs the search may spend")
    latency_bound_min_x_service: float | None = Field(
        None, ge=1,
        description="Server: raise latency_bound_ms to at least this multiple of the calibrated one-sample "
                    "service time (a host-dependent bound; the rule and the bound are recorded)",
    )


class LoadGenKind:
    name: ClassVar[str] = "loadgen"
    task: ClassVar[Task] = "infer"
    role: ClassVar[Role] = "model"
    Params: ClassVar[type[BaseModel]] = LoadGenParams
    dtypes: ClassVar[tuple[str, ...]] = tuple(TORCH_DTYPES)
    backends: ClassVar[tuple[str, ...]] = tuple(BACKENDS)

    def run(self, spec: BenchmarkSpec, params: LoadGenParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        if params.search_max_qps and params.scenario != "Server":
            raise ValueError("search_max_qps needs scenario Server")
        setup = setup_model(
            spec,
            params,
            loadgen_version=metadata.version("mlcommons-loadgen"),
            workers=params.workers,
            max_batch=params.max_batch,
            batches=[params.max_batch],
        )
        backend, facts = load_backend(setup, spec)
        setup.config.update(facts)
        try:
            setup.config.update(verify_backend(setup, backend, spec, None, None))
            pool = setup.workload.make_inputs(
                params.sample_count, torch.Generator().manual_seed(spec.seed + 3)
            )

            def process(indices: Sequence[int]) -> None:
                index = torch.as_tensor(indices)
                backend.run_once(backend.prepare(tuple(t[index] for t in pool)))
                backend.sync()

            result = KindResult(metrics=[], config=setup.config)
            settings = self._calibrated(params, spec, process, result)
            if params.search_max_qps:
                self._search(params, settings, process, result, ctx)
            else:
                ctx.log(f"{spec.name}: LoadGen {settings.scenario}")
                load = OthersCpu()
                def go() -> LoadGenRun:
                    return run_loadgen(process, settings, total_samples=params.sample_count,
                                       workers=params.workers, max_batch=params.max_batch)

                run, reruns, placed = placement.run_in_reference(go, device=spec.device)
                _check_service(run, settings, result, load.others_pct())
                add_loadgen_result(result, run.result, run)
                add_metric(result, "sut_latency_ms", run.latencies_s, "ms", scale=1e3, higher_is_better=False)
                record_placement(result, reruns, placed)
        finally:
            backend.teardown()
        return result

    @staticmethod
    def _calibrated(
        params: LoadGenParams, spec: BenchmarkSpec, process: Any, result: KindResult
    ) -> ScenarioSettings:
        """Scenario settings with the run's seed and, unless given, calibrated expectations; the Server
        bound rule applied and its feasibility checked (BenchmarkInfeasible before any LoadGen run)."""
        config = result.config
        update: dict[str, Any] = {"seed": spec.seed}
        one_s: float | None = None
        if params.calibrate or params.latency_bound_min_x_service:
            one = measure(lambda: process([0]), budget=CALIBRATION_BUDGET, per_call=True)
            one_s = statistics.median(one)
            batch_s = statistics.median(
                measure(lambda: process(list(range(params.max_batch))), budget=CALIBRATION_BUDGET)
            )
            capacity_qps = params.workers * params.max_batch / batch_s
            per_query = params.samples_per_query if params.scenario == "MultiStream" else 1
            config.update(calibrated_service_ms=one_s * 1e3, calibrated_service_n=len(one),
                          calibrated_capacity_qps=capacity_qps)
            if params.calibrate and "expected_latency_ms" not in params.model_fields_set:
                update["expected_latency_ms"] = one_s * 1e3 * per_query / min(per_query, params.max_batch)
            if params.calibrate and "target_qps" not in params.model_fields_set:
                scale = {"Server": SEARCH_START_UTILISATION, "Offline": OFFLINE_QPS_MARGIN}.get(
                    params.scenario, 1.0
                )
                update["target_qps"] = capacity_qps * scale
        if params.scenario == "Server" and params.latency_bound_min_x_service and one_s is not None:
            floor_ms = params.latency_bound_min_x_service * one_s * 1e3
            bound_ms = max(params.latency_bound_ms, floor_ms)
            update["latency_bound_ms"] = bound_ms
            config["latency_bound_rule"] = (
                f"max(latency_bound_ms {params.latency_bound_ms:g} ms, "
                f"{params.latency_bound_min_x_service:g} x calibrated service time {one_s * 1e3:.4g} ms) = "
                f"{bound_ms:.4g} ms"
            )
        fields = set(ScenarioSettings.model_fields)
        settings = ScenarioSettings.model_validate(params.model_dump(include=fields) | update)
        config["loadgen_settings"] = settings.model_dump()
        if settings.scenario == "Server" and one_s is not None and one_s * 1e3 >= settings.latency_bound_ms:
            raise BenchmarkInfeasible(
                f"p{100 * settings.latency_percentile:g} bound {settings.latency_bound_ms:.4g} ms < "
                f"calibrated service time {one_s * 1e3:.4g} ms for one sample (median of "
                f"{config['calibrated_service_n']} calls): no arrival rate can meet it; raise "
                "latency_bound_ms (or latency_bound_min_x_service) or use a faster model/device",
                result,
            )
        return settings

    @staticmethod
    def _search(
        params: LoadGenParams, settings: ScenarioSettings, process: Any, result: KindResult, ctx: RunContext
    ) -> None:
        runs: dict[float, LoadGenRun] = {}

        def run_at(qps: float) -> LoadGenResult:
            cap_ms = settings.max_duration_ms or max(
                SEARCH_MAX_DURATION_FACTOR * max(settings.min_duration_ms, 1000),
                math.ceil(SEARCH_QUERY_MARGIN * settings.min_query_count / qps * 1000),
            )
            ctx.log(f"LoadGen Server at {qps:.4g} QPS")
            load = OthersCpu()
            run = run_loadgen(
                process,
                settings.model_copy(update={"target_qps": qps, "max_duration_ms": cap_ms}),
                total_samples=params.sample_count,
                workers=params.workers,
                max_batch=params.max_batch,
            )
            runs[qps] = run
            _check_service(run, settings, result, load.others_pct())
            return run.result

        found = search_max_qps(run_at, settings.target_qps, criterion=params.search_criterion,
                               rel_tol=params.search_rel_tol, max_runs=params.search_max_runs)
        result.config.update(search_criterion=found.criterion, search_upper_failed_qps=found.upper_failed_qps,
                             search_trials=[t.model_dump() for t in found.trials])
        if found.best is None:
            tried = "; ".join(
                f"{t.target_qps:.4g} QPS: p99 "
                + (f"{t.latency_p99_ms:.4g} ms" if t.latency_p99_ms is not None else "-")
                + (f" ({', '.join(t.reasons)})" if t.reasons else "")
                for t in found.trials
            )
            raise BenchmarkInfeasible(
                f"no target QPS met the Server constraints (criterion {found.criterion}, p99 bound "
                f"{settings.latency_bound_ms:.4g} ms) in {len(found.trials)} LoadGen runs: {tried}; raise "
                "latency_bound_ms or search_max_runs, or lower min_query_count",
                result,
            )
        bracket = (found.upper_failed_qps - found.max_qps) / found.max_qps if found.upper_failed_qps else None
        result.metrics.append(Metric(
            name="max_qps", value=found.max_qps, unit="queries/s",
            stats={"runs": float(len(found.trials))} | ({"search_bracket_rel": bracket} if bracket else {}),
            noisy=bracket is None or bracket > params.search_rel_tol,
        ))
        add_loadgen_result(result, found.best, runs.get(found.max_qps))


def _check_service(run: LoadGenRun, settings: ScenarioSettings, result: KindResult,
                   others_pct: float = 0.0) -> None:
    """BenchmarkInfeasible when the run's service times alone (no queueing) put the bounded percentile above
    the Server latency bound: then no arrival rate can meet it. Not concluded from a run during which other
    processes used more than CONTENDED_OTHERS_PCT of the CPU (``others_pct``): their load may be the tail."""
    q = settings.latency_percentile
    too_few = len(run.service_s) < min_samples(q)
    if settings.scenario != "Server" or too_few or others_pct > CONTENDED_OTHERS_PCT:
        return
    service_ms = float(np.percentile(run.service_s, 100 * q)) * 1e3
    if service_ms > settings.latency_bound_ms:
        result.config["service_p99_ms"] = service_ms
        raise BenchmarkInfeasible(
            f"p{100 * q:g} bound {settings.latency_bound_ms:.4g} ms < p{100 * q:g} service time "
            f"{service_ms:.4g} ms of {len(run.service_s)} calls at {settings.target_qps:.4g} QPS (queueing "
            "excluded): no arrival rate can meet it; raise latency_bound_ms or use a faster model/device",
            result,
        )


HEADLINE = {"SingleStream": "latency_p90_ms", "MultiStream": "latency_p99_ms", "Server": "samples_per_s",
            "Offline": "samples_per_s"}


def add_loadgen_result(
    result: KindResult, lg: LoadGenResult, run: LoadGenRun | None = None,
    target_rel_ci: float = DEFAULT_TARGET_REL_CI,
) -> None:
    """Metrics and config from one LoadGen run, the scenario's MLPerf metric first. With the adapter's
    ``run``, latency metrics carry their percentile's CI and throughput its per-window spread."""
    latencies_ms = np.sort(np.asarray(_query_latencies_s(run, lg.scenario) if run else [], dtype=float)) * 1e3
    metrics: list[Metric] = []
    for p, v in lg.latency_percentiles_ms.items():
        key = f"p{p.replace('.', '')}"
        name = f"latency_{key}_ms"
        if run is None:
            metrics.append(Metric(name=name, value=v, unit="ms", higher_is_better=False))
            continue
        q = float(p) / 100
        if len(latencies_ms) < min_samples(q):
            note = percentile_note(key, {"n": len(latencies_ms)}) if key in ("p90", "p99", "p999") else (
                f"not enough samples for {key} (n={len(latencies_ms)}; needs n >= {min_samples(q)})")
            result.config.setdefault(NOT_REPORTED, {})[name] = f"{name}: {note}"
            continue
        stats = _quantile_stats(latencies_ms, q, key, v)
        metrics.append(Metric(name=name, value=v, unit="ms", higher_is_better=False, stats=stats,
                              noisy=is_noisy(stats, target_rel_ci)))
    if lg.samples_per_s is not None:
        stats = _window_rate_stats(run.completed_s) if run and run.completed_s else {}
        metrics.append(Metric(name="samples_per_s", value=lg.samples_per_s, unit="samples/s", stats=stats,
                              noisy=is_noisy(stats, target_rel_ci) if stats else False))
    if lg.early_stopping_latency_ms is not None:
        metrics.append(Metric(name="early_stopping_latency_ms", value=lg.early_stopping_latency_ms, unit="ms",
                              higher_is_better=False))
    metrics.append(Metric(name="loadgen_valid", value=float(lg.valid), unit="bool"))
    metrics.sort(key=lambda m: m.name != HEADLINE.get(lg.scenario))
    result.metrics.extend(metrics)
    result.config.update(
        loadgen_scenario=lg.scenario,
        loadgen_validity="VALID" if lg.valid else "INVALID",
        loadgen_reasons=lg.reasons,
        loadgen_checks=lg.checks,
        loadgen_early_stopping=lg.early_stopping,
        loadgen_query_count=lg.query_count,
        loadgen_target_qps=lg.target_qps,
        loadgen_latency_bound_ms=lg.latency_bound_ms,
    )


def _query_latencies_s(run: LoadGenRun, scenario: str) -> list[float]:
    """Per-query latencies (MultiStream: the slowest sample of each query), else per-sample ones."""
    if scenario != "MultiStream" or not run.issued_s:
        return run.latencies_s
    by_query: dict[float, float] = {}
    for issued, latency in zip(run.issued_s, run.latencies_s, strict=True):
        by_query[issued] = max(by_query.get(issued, 0.0), latency)
    return list(by_query.values())


def _quantile_stats(sorted_ms: np.ndarray, q: float, key: str, value_ms: float) -> dict[str, float]:
    """n, the order-statistic CI of the q-quantile over the adapter's latencies, and its relative half-width
    around LoadGen's figure."""
    lo, hi = quantile_ci(sorted_ms, q)
    stats = {"n": float(len(sorted_ms)), f"{key}_adapter": float(np.percentile(sorted_ms, 100 * q))}
    if lo is not None:
        stats[f"{key}_ci_low"] = lo
    if hi is not None:
        stats[f"{key}_ci_high"] = hi
    if lo is not None and hi is not None and value_ms:
        stats["headline_ci95_rel"] = (hi - lo) / 2 / value_ms
    return stats


def _window_rate_stats(completed_s: Sequence[float]) -> dict[str, float]:
    """Completion rate in WINDOWS equal slices of the run: n, median, and the median's relative CI."""
    end = max(completed_s)
    if end <= 0:
        return {}
    counts, _ = np.histogram(completed_s, bins=WINDOWS, range=(0.0, end))
    rates = np.sort(counts / (end / WINDOWS))
    lo, hi = quantile_ci(rates, 0.5)
    median = float(np.median(rates))
    stats = {"n": float(WINDOWS), "window_rate_median": median, "window_s": end / WINDOWS}
    if lo is not None and hi is not None and median:
        stats["headline_ci95_rel"] = (hi - lo) / 2 / median
    return stats
