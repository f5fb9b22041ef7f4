"""MLPerf LoadGen scenarios (SingleStream, MultiStream, Server, Offline) over any inference backend,
plus the Server max-QPS search.

The backend is loaded and checked against eager torch exactly as the ``infer`` kind does; then a
pool of synthetic samples is generated and LoadGen drives the SUT adapter. LoadGen's verdict (VALID or
INVALID) and its reasons are stored as they are: a short run that LoadGen calls INVALID is a
successful benchmark whose result carries ``loadgen_valid = 0`` and the reason lines.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from importlib import metadata
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, Field

from capplan.harness.backends import BACKENDS
from capplan.harness.kinds.model_common import load_backend, setup_model, verify_backend
from capplan.harness.loadgen.logs import LoadGenResult
from capplan.harness.loadgen.search import Criterion, search_max_qps
from capplan.harness.loadgen.settings import ScenarioSettings
from capplan.harness.loadgen.sut import run_loadgen
from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSpec, Budget, KindResult, Role, RunContext, Task
from capplan.harness.timing import measure
from capplan.results.schema import Metric
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

            settings = self._calibrated(params, spec, process, setup.config)
            result = KindResult(metrics=[], config=setup.config)
            if params.search_max_qps:
                self._search(params, settings, process, result, ctx)
            else:
                ctx.log(f"{spec.name}: LoadGen {settings.scenario}")
                run = run_loadgen(
                    process,
                    settings,
                    total_samples=params.sample_count,
                    workers=params.workers,
                    max_batch=params.max_batch,
                )
                add_loadgen_result(result, run.result)
                add_metric(result, "sut_latency_ms", run.latencies_s, "ms", scale=1e3, higher_is_better=False)
        finally:
            backend.teardown()
        return result

    @staticmethod
    def _calibrated(
        params: LoadGenParams, spec: BenchmarkSpec, process: Any, config: dict[str, Any]
    ) -> ScenarioSettings:
        """Scenario settings with the run's seed and, unless given, calibrated expectations."""
        update: dict[str, Any] = {"seed": spec.seed}
        if params.calibrate:
            one_s = statistics.median(measure(lambda: process([0]), budget=CALIBRATION_BUDGET))
            batch_s = statistics.median(
                measure(lambda: process(list(range(params.max_batch))), budget=CALIBRATION_BUDGET)
            )
            capacity_qps = params.workers * params.max_batch / batch_s
            per_query = params.samples_per_query if params.scenario == "MultiStream" else 1
            config.update(calibrated_service_ms=one_s * 1e3, calibrated_capacity_qps=capacity_qps)
            if "expected_latency_ms" not in params.model_fields_set:
                update["expected_latency_ms"] = one_s * 1e3 * per_query / min(per_query, params.max_batch)
            if "target_qps" not in params.model_fields_set:
                scale = {"Server": SEARCH_START_UTILISATION, "Offline": OFFLINE_QPS_MARGIN}.get(
                    params.scenario, 1.0
                )
                update["target_qps"] = capacity_qps * scale
        fields = set(ScenarioSettings.model_fields)
        settings = ScenarioSettings.model_validate(params.model_dump(include=fields) | update)
        config["loadgen_settings"] = settings.model_dump()
        return settings

    @staticmethod
    def _search(
        params: LoadGenParams, settings: ScenarioSettings, process: Any, result: KindResult, ctx: RunContext
    ) -> None:
        cap_ms = settings.max_duration_ms or SEARCH_MAX_DURATION_FACTOR * max(settings.min_duration_ms, 1000)

        def run_at(qps: float) -> LoadGenResult:
            ctx.log(f"LoadGen Server at {qps:.4g} QPS")
            run = run_loadgen(
                process,
                settings.model_copy(update={"target_qps": qps, "max_duration_ms": cap_ms}),
                total_samples=params.sample_count,
                workers=params.workers,
                max_batch=params.max_batch,
            )
            return run.result

        found = search_max_qps(run_at, settings.target_qps, criterion=params.search_criterion,
                               rel_tol=params.search_rel_tol, max_runs=params.search_max_runs)
        result.metrics.append(Metric(name="max_qps", value=found.max_qps, unit="queries/s",
                                     stats={"runs": float(len(found.trials))}))
        result.config.update(search_criterion=found.criterion, search_upper_failed_qps=found.upper_failed_qps,
                             search_trials=[t.model_dump() for t in found.trials])
        if found.best is not None:
            add_loadgen_result(result, found.best)


HEADLINE = {"SingleStream": "latency_p90_ms", "MultiStream": "latency_p99_ms", "Server": "samples_per_s",
            "Offline": "samples_per_s"}


def add_loadgen_result(result: KindResult, lg: LoadGenResult) -> None:
    """Metrics and config from one LoadGen run, the scenario's MLPerf metric first."""
    metrics = [Metric(name=f"latency_p{p.replace('.', '')}_ms", value=v, unit="ms", higher_is_better=False)
               for p, v in lg.latency_percentiles_ms.items()]
    if lg.samples_per_s is not None:
        metrics.append(Metric(name="samples_per_s", value=lg.samples_per_s, unit="samples/s"))
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
