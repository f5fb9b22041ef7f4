"""One load point end to end: build the requests and schedule, run them, turn what was seen into a result
(metrics, aligned raw samples, facts), and the search for the highest rate that meets the SLOs."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from capplan.errors import UserError
from capplan.harness.serve.arrivals import arrival_offsets_s
from capplan.harness.serve.client import LoadResult, RequestResult, Target, run_load
from capplan.harness.serve.params import ServeParams, clean_endpoint
from capplan.harness.serve.workload import RequestSpec, jsonl_requests, synthetic_requests
from capplan.harness.spec import KindResult
from capplan.results.schema import Metric
from capplan.results.serving import RequestTimes, lag_metric, serving_metrics

ERROR_EXAMPLES = 5  # distinct error messages kept in a record
PROBE_TIMEOUT_S = 10.0


class NoRateMeetsSLO(Exception):
    """The search's lowest rate already missed the SLOs: there is no capacity figure to store."""


def target_of(params: ServeParams) -> Target:
    return Target(
        base_url=params.endpoint,
        api=params.api,
        model=params.model,
        api_key=os.environ.get(params.api_key_env) or None,
        timeout_s=params.request_timeout_s,
        ignore_eos=params.ignore_eos,
    )


def probe_server(params: ServeParams) -> dict[str, Any]:
    """Reach the endpoint before measuring: its model list and version. UserError (one line) when it
    cannot be reached; a server without /models or /version is fine."""
    target = target_of(params)
    root = params.endpoint.rstrip("/").removesuffix("/v1")
    facts: dict[str, Any] = {}
    try:
        with httpx.Client(timeout=PROBE_TIMEOUT_S, trust_env=False, headers=target.headers()) as client:
            models = client.get(params.endpoint.rstrip("/") + "/models")
            if models.status_code == 200:
                data = models.json().get("data") or []
                facts["served_models"] = [str(m.get("id")) for m in data if isinstance(m, dict)][:20]
            version = client.get(root + "/version")
            if version.status_code == 200 and "json" in version.headers.get("content-type", ""):
                facts["server_version"] = str(version.json().get("version"))
            facts.setdefault("server_version", models.headers.get("server"))
    except (httpx.HTTPError, ValueError) as exc:
        raise UserError(
            f"--endpoint: cannot reach {clean_endpoint(params.endpoint)} "
            f"({target.redact(' '.join(str(exc).split()) or type(exc).__name__)})"
        ) from exc
    if facts.get("served_models") and params.model not in facts["served_models"]:
        raise UserError(
            f"--model: {params.model!r} is not served by {clean_endpoint(params.endpoint)}; "
            f"served: {', '.join(facts['served_models'])}"
        )
    return {k: v for k, v in facts.items() if v is not None}


def build_requests(params: ServeParams, seed: int) -> list[RequestSpec]:
    n = params.requests + params.warmup_requests
    if params.prompts_file:
        return jsonl_requests(Path(params.prompts_file), n, params.output_tokens, seed)
    return synthetic_requests(n, params.input_tokens, params.output_tokens, seed)


def run_point(
    params: ServeParams,
    seed: int,
    *,
    on_done: Callable[[RequestResult], None] | None = None,
    stop: asyncio.Event | None = None,
    interruptible: bool = False,
) -> tuple[LoadResult, list[RequestSpec]]:
    """Run the load point in a fresh event loop; with ``interruptible`` Ctrl-C (SIGINT) stops it and keeps
    what was measured."""
    specs = build_requests(params, seed)
    warm, measured = specs[: params.warmup_requests], specs[params.warmup_requests :]
    offsets = None
    concurrency = 1 if params.mode == "synchronous" else params.concurrency
    if params.mode == "rate":
        assert params.rate_rps is not None
        offsets = arrival_offsets_s(
            len(measured), params.rate_rps, params.arrival, burstiness=params.burstiness, seed=seed + 1
        )

    stop = stop or asyncio.Event()

    async def go() -> LoadResult:
        loop = asyncio.get_running_loop()
        if interruptible:
            loop.add_signal_handler(signal.SIGINT, stop.set)
        try:
            return await run_load(
                target_of(params),
                measured,
                offsets_s=offsets,
                concurrency=concurrency,
                on_done=on_done,
                stop=stop,
                warmup=warm,
            )
        finally:
            if interruptible:
                loop.remove_signal_handler(signal.SIGINT)

    return asyncio.run(go()), measured


def point_result(
    params: ServeParams, load: LoadResult, specs: list[RequestSpec], facts: dict[str, Any]
) -> KindResult:
    """Metrics, samples and facts of one load point (see capplan.results.serving for the definitions)."""
    ok = [r for r in load.results if r.ok]
    failed = [r for r in load.results if r.error is not None]
    interrupted = [r for r in load.results if r.interrupted and r.error is None]
    estimated = any(r.output_tokens is None or r.prompt_tokens is None for r in ok)
    times = [
        RequestTimes(
            sent_s=r.sent_s,
            first_token_s=r.first_token_s or r.sent_s,
            end_s=r.end_s or r.sent_s,
            chunk_s=r.chunk_s,
            input_tokens=r.prompt_tokens
            if r.prompt_tokens is not None
            else specs[r.index].estimated_input_tokens(),
            output_tokens=r.output_tokens if r.output_tokens is not None else len(r.chunk_s),
        )
        for r in ok
    ]
    metrics, samples = serving_metrics(times, len(failed), load.duration_s, params.slo)
    lags = [r.lag_ms for r in load.results if r.lag_ms is not None]
    kept = None
    if lags:
        lag, kept = lag_metric(lags)
        metrics.append(lag)
        samples["dispatch_lag_ms"] = lags
    errors = Counter(r.error for r in failed)
    result_facts = facts | {
        "endpoint": clean_endpoint(params.endpoint),
        "api": params.api,
        "model": params.model,
        "load": params.load_label(),
        "mode": params.mode,
        "rate_rps": params.rate_rps if params.mode == "rate" else None,
        "concurrency": 1 if params.mode == "synchronous" else params.concurrency,
        "arrival": params.arrival if params.mode == "rate" else None,
        "burstiness": params.burstiness if params.mode == "rate" and params.arrival == "gamma" else None,
        "input_tokens": params.input_tokens if not params.prompts_file else None,
        "output_tokens": params.output_tokens,
        "prompts_file": Path(params.prompts_file).name if params.prompts_file else None,
        "requests_sent": len(load.results),
        "completed_requests": len(ok),
        "failed_requests": len(failed),
        "interrupted_requests": len(interrupted),
        "interrupted": load.interrupted,
        "duration_s": load.duration_s,
        "token_counts": "estimated (no usage report: output = token chunks, input = intended or chars/4)"
        if estimated
        else "server usage report",
        "tokens_estimated": estimated,
        "schedule_kept": kept,
        "slo": params.slo.as_config() if params.slo.given else None,
        "errors": [f"{n} x {msg}" for msg, n in errors.most_common(ERROR_EXAMPLES)],
        "reasoning_chunks": sum(r.reasoning_chunks for r in ok),
        "auth": f"bearer token from ${params.api_key_env}" if os.environ.get(params.api_key_env) else "none",
    }
    head = [m for m in metrics if m.name == "ttft_ms"]
    return KindResult(
        metrics=head + [m for m in metrics if m.name != "ttft_ms"],
        samples=samples,
        config={k: v for k, v in result_facts.items() if v is not None},
    )


def measure(
    params: ServeParams,
    seed: int,
    *,
    on_done: Callable[[RequestResult], None] | None = None,
    stop: asyncio.Event | None = None,
    facts: dict[str, Any] | None = None,
    interruptible: bool = False,
) -> KindResult:
    """One load point, probed first (UserError when the endpoint cannot be reached)."""
    found = facts if facts is not None else probe_server(params)
    load, specs = run_point(params, seed, on_done=on_done, stop=stop, interruptible=interruptible)
    result = point_result(params, load, specs, found)
    if not any(r.ok for r in load.results) and not load.interrupted:
        first = next((r.error for r in load.results if r.error), "no request was sent")
        raise AllRequestsFailed(f"all {len(load.results)} requests failed: {first}", result)
    return result


class AllRequestsFailed(Exception):
    """Every request of a load point errored: nothing was measured (``result`` keeps the facts and the
    error counts)."""

    def __init__(self, message: str, result: KindResult | None = None) -> None:
        super().__init__(message)
        self.result = result


def passes(result: KindResult, params: ServeParams) -> bool:
    """The point met the SLOs: attainment (errors are misses) at least the target."""
    att = next((m for m in result.metrics if m.name == "slo_attainment_pct"), None)
    return att is not None and att.value >= params.slo_attainment_pct


def start_rate(params: ServeParams, seed: int, facts: dict[str, Any]) -> float:
    """Default first rate of a search: the throughput of a short synchronous run (one request at a time
    is what a server sustains at the very least)."""
    probe = params.model_copy(
        update={
            "mode": "synchronous",
            "requests": min(5, params.requests),
            "search": False,
            "warmup_requests": 0,
        }
    )
    result = measure(probe, seed, facts=facts)
    rate = next(m.value for m in result.metrics if m.name == "request_throughput_rps")
    return rate


def search_rate(
    params: ServeParams,
    seed: int,
    facts: dict[str, Any],
    run_at: Callable[[ServeParams], KindResult] | None = None,
) -> tuple[float, list[dict[str, Any]], KindResult | None]:
    """Bracket then bisect the highest Poisson rate whose SLO attainment meets the target.

    Returns (best rate, trials, best point's result). Raises NoRateMeetsSLO when even the lowest rate
    tried (the start rate halved until ``search_max_runs`` is spent) missed: there is no figure to store.
    """
    run = run_at or (lambda p: measure(p, seed, facts=facts))
    trials: list[dict[str, Any]] = []
    best: tuple[float, KindResult] | None = None
    lo: float | None = None
    hi: float | None = None

    def attempt(rate: float) -> bool:
        nonlocal best
        point = params.model_copy(update={"mode": "rate", "rate_rps": rate, "search": False})
        try:
            result = run(point)
        except AllRequestsFailed as exc:
            trials.append({"rate_rps": rate, "passed": False, "error": str(exc)})
            return False
        ok = passes(result, params)
        att = next((m.value for m in result.metrics if m.name == "slo_attainment_pct"), None)
        trials.append({"rate_rps": rate, "passed": ok, "slo_attainment_pct": att})
        if ok and (best is None or rate > best[0]):
            best = (rate, result)
        return ok

    rate = params.search_start_rps or start_rate(params, seed, facts)
    while len(trials) < params.search_max_runs and (lo is None or hi is None):
        if attempt(rate):
            lo, rate = rate, rate * 2
        else:
            hi, rate = rate, rate / 2
    while (
        lo is not None
        and hi is not None
        and len(trials) < params.search_max_runs
        and hi - lo > params.search_rel_tol * lo
    ):
        mid = (lo + hi) / 2
        if attempt(mid):
            lo = mid
        else:
            hi = mid
    if best is None:
        tried = min(t["rate_rps"] for t in trials)
        raise NoRateMeetsSLO(
            f"no rate met the SLOs ({params.slo.describe()}); the lowest tried, "
            f"{tried:.4g} requests/s, missed"
        )
    return best[0], trials, best[1]


def search_metric(rate: float, trials: list[dict[str, Any]], params: ServeParams) -> Metric:
    upper = min((t["rate_rps"] for t in trials if not t["passed"] and t["rate_rps"] > rate), default=None)
    stats = {"trials": float(len(trials))} | ({"lowest_failed_rps": upper} if upper is not None else {})
    return Metric(name="max_rate_meeting_slo_rps", value=rate, unit="requests/s", stats=stats)
