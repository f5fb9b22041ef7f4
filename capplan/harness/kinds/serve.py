"""LLM serving over HTTP: TTFT, TPOT, ITL, throughput and goodput of an OpenAI-compatible endpoint.

One load point per benchmark (synchronous, fixed concurrency, or open-loop arrivals at a rate), or the
search for the highest rate meeting the SLOs (``search: true``; the best point's metrics plus
``max_rate_meeting_slo_rps``; a search in which no rate met them fails with that reason, never storing
a 0). The client is capplan.harness.serve; definitions are in capplan.results.serving.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from capplan.harness.serve.params import ServeParams
from capplan.harness.serve.point import measure, probe_server, search_metric, search_rate
from capplan.harness.spec import BenchmarkSpec, KindResult, Role, RunContext, Task


class ServeKind:
    name: ClassVar[str] = "serve"
    task: ClassVar[Task] = "serve"
    role: ClassVar[Role] = "client"
    Params: ClassVar[type[BaseModel]] = ServeParams

    def run(self, spec: BenchmarkSpec, params: ServeParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        on_done = ctx.extras.get("on_request_done")
        facts = probe_server(params)
        if not params.search:
            ctx.log(f"{spec.name}: {params.load_label()} against {params.endpoint}")
            return measure(
                params,
                spec.seed,
                on_done=on_done,
                stop=ctx.extras.get("stop"),
                facts=facts,
                interruptible=bool(ctx.extras.get("interruptible")),
            )
        rate, trials, best = search_rate(params, spec.seed, facts)
        assert best is not None
        best.metrics.insert(0, search_metric(rate, trials, params))
        best.config.update(search_trials=trials, search_criterion=params.slo.describe())
        return best


def serve_spec(
    name: str, params: ServeParams, *, seed: int, tags: dict[str, str], timeout_s: float
) -> BenchmarkSpec:
    """The spec of one serve load point (``capplan bench serve`` runs it in-process)."""
    return BenchmarkSpec(
        name=name,
        kind=ServeKind.name,
        params=params.model_dump(exclude_none=True),
        seed=seed,
        tags=tags,
        timeout_s=timeout_s,
    )
