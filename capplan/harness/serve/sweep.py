"""``capplan bench serve``: load points (a sweep over concurrency or rate, or a search) run in this process
(so a progress bar can follow every request and Ctrl-C keeps what was measured), each stored as one
RunRecord of the serve kind, like every benchmark. Points of one invocation share a ``sweep_id`` tag."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from capplan.hardware.telemetry import host_busy_pct
from capplan.harness.kinds.serve import serve_spec
from capplan.harness.runner import (
    CONTENDED_BUSY_PCT,
    LOAD_WINDOW_S,
    Outcome,
    RunEnvironment,
    build_record,
    request_config,
    torch_threads,
)
from capplan.harness.serve.client import RequestResult
from capplan.harness.serve.params import ServeParams
from capplan.harness.serve.point import (
    AllRequestsFailed,
    NoRateMeetsSLO,
    measure,
    probe_server,
    search_metric,
    search_rate,
)
from capplan.harness.spec import KindResult
from capplan.results.schema import RunRecord, Status
from capplan.results.store import Store

SUITE = "serve"


@dataclass
class SweepCallbacks:
    point_started: Callable[[str, ServeParams], None] = lambda _n, _p: None
    request_done: Callable[[RequestResult], None] = lambda _r: None
    point_stored: Callable[[RunRecord], None] = lambda _r: None


@dataclass
class SweepOutcome:
    records: list[RunRecord] = field(default_factory=list)
    interrupted: bool = False


class _Sweep:
    def __init__(
        self, store: Store, prefix: str, seed: int, callbacks: SweepCallbacks, facts: dict[str, Any]
    ) -> None:
        self.store, self.prefix, self.seed, self.cb, self.facts = store, prefix, seed, callbacks, facts
        self.sweep_id = uuid.uuid4().hex[:12]
        self.env = RunEnvironment.collect()
        self.threads = torch_threads()
        self.out = SweepOutcome()
        self.load: dict[str, float | None] = {}

    def store_point(
        self, name: str, params: ServeParams, outcome: Outcome, started: datetime, tags: dict[str, str]
    ) -> RunRecord:
        spec = serve_spec(
            name,
            params,
            seed=self.seed,
            tags={"sweep_id": self.sweep_id, **tags},
            timeout_s=params.request_timeout_s * max(params.requests, 1),
        )
        config = request_config(spec, params.model_dump(exclude_none=True), self.threads)
        outcome.telemetry.update(self.load)
        record = build_record(spec, config, outcome, self.env, suite=SUITE, started=started)
        self.store.add(record)
        self.out.records.append(record)
        self.cb.point_stored(record)
        return record

    def run_point(self, params: ServeParams, tags: dict[str, str] | None = None) -> KindResult | None:
        """Measure and store one point; None when every request failed (stored as failed)."""
        name = f"{self.prefix}-{params.load_label()}"
        busy_pct = host_busy_pct(LOAD_WINDOW_S)  # other processes' CPU use: a loaded client host shows
        self.load = {"host_busy_pct_before": busy_pct, "contended": float(busy_pct > CONTENDED_BUSY_PCT)}
        self.cb.point_started(name, params)
        started = datetime.now(UTC)
        stop = asyncio.Event()
        try:
            result = measure(
                params,
                self.seed,
                on_done=self.cb.request_done,
                stop=stop,
                facts=self.facts,
                interruptible=True,
            )
        except AllRequestsFailed as exc:
            # a failed record keeps the facts (load, error messages and counts), never a metric
            facts = exc.result.config if exc.result is not None else {}
            kept = {"metrics": [], "samples": {}, "config": facts}
            self.store_point(name, params, Outcome(Status.failed, str(exc), result=kept), started, tags or {})
            return None
        self.out.interrupted = self.out.interrupted or bool(result.config.get("interrupted"))
        extra = {"interrupted": "true"} if result.config.get("interrupted") else {}
        if result.metrics:
            self.store_point(
                name,
                params,
                Outcome(Status.ok, result=result.model_dump(mode="json")),
                started,
                {**(tags or {}), **extra},
            )
        return result


def run_sweep(
    points: list[ServeParams],
    store: Store,
    *,
    prefix: str,
    seed: int,
    callbacks: SweepCallbacks | None = None,
    facts: dict[str, Any] | None = None,
) -> SweepOutcome:
    """Measure and store each point in turn; stop after a point that Ctrl-C interrupted. UserError
    before anything is stored when the endpoint cannot be reached."""
    facts = facts if facts is not None else probe_server(points[0])
    sweep = _Sweep(store, prefix, seed, callbacks or SweepCallbacks(), facts)
    for params in points:
        sweep.run_point(params)
        if sweep.out.interrupted:
            break
    return sweep.out


def run_search(
    params: ServeParams,
    store: Store,
    *,
    prefix: str,
    seed: int,
    callbacks: SweepCallbacks | None = None,
    facts: dict[str, Any] | None = None,
) -> SweepOutcome:
    """Search the highest rate meeting the SLOs; every trial is stored, then one summary record with
    ``max_rate_meeting_slo_rps`` (or, when no rate met the SLOs, a failed record saying so: no 0 is
    stored)."""
    facts = facts if facts is not None else probe_server(params)
    sweep = _Sweep(store, prefix, seed, callbacks or SweepCallbacks(), facts)
    started = datetime.now(UTC)

    def trial(point: ServeParams) -> KindResult:
        if sweep.out.interrupted:
            raise KeyboardInterrupt
        result = sweep.run_point(point, {"search": "trial"})
        if result is None:
            raise AllRequestsFailed(f"all requests failed at {point.rate_rps:g} requests/s")
        return result

    name = f"{prefix}-search"
    try:
        rate, trials, best = search_rate(params, seed, facts, run_at=trial)
    except NoRateMeetsSLO as exc:
        sweep.store_point(name, params, Outcome(Status.failed, str(exc)), started, {"search": "result"})
        return sweep.out
    except KeyboardInterrupt:
        sweep.out.interrupted = True
        return sweep.out
    assert best is not None
    summary = best.model_copy(deep=True)
    summary.metrics.insert(0, search_metric(rate, trials, params))
    summary.config.update(search_trials=trials, search_criterion=params.slo.describe(), best_rate_rps=rate)
    sweep.store_point(
        name,
        params,
        Outcome(Status.ok, result=summary.model_dump(mode="json")),
        started,
        {"search": "result"},
    )
    return sweep.out
