"""Importers of LLM-serving benchmark results: vLLM ``bench serve`` result JSON, guidellm reports (schema
version 2) and AIPerf / genai-perf ``profile_export`` JSON. Each load point becomes one record of the serve
kind, with capplan's metric names (capplan.results.serving) and a note of where the tool's definition differs.

Definition map (tool -> capplan):
- vLLM: TTFT, TPOT (= (e2e - TTFT) / (output tokens - 1)), ITL (chunk gaps) and E2EL are capplan's, except
  that its ``openai-chat`` client starts TTFT at the first chunk carrying ``choices``: a server's role-only
  first chunk counts as the first token (capplan waits for content or reasoning). The file's per-request
  arrays (``--save-detailed``) are kept as raw samples.
- guidellm: ``time_to_first_token_ms`` is TTFT; its ``time_per_output_token_ms`` is e2e / output tokens,
  the first token *included*, kept as ``tpot_incl_first_token_ms``; its ``inter_token_latency_ms`` is
  (e2e - TTFT) / (output tokens - 1), capplan's TPOT. Its token-latency distributions weight each request
  by its tokens. ``request_latency`` is in seconds. It reports no chunk gaps (no ITL).
- AIPerf / genai-perf: ``time_to_first_token`` is TTFT; ``inter_token_latency`` is (e2e - TTFT) /
  (output tokens - 1), capplan's TPOT; ``inter_chunk_latency`` the chunk gaps, capplan's ITL;
  ``request_latency`` e2e.
Percentiles are the tool's own, without confidence intervals; n is the tool's count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from capplan.errors import UserError
from capplan.results.importers import user_errors
from capplan.results.importers.mlperf import stable_run_id
from capplan.results.schema import Metric, RunRecord, Source
from capplan.results.serving import error_rate_metric

SERVE_KIND = "serve"  # the harness kind whose records these are (capplan.harness.kinds.serve)
PERCENTILE_KEYS = {"p50": ("p50", "median"), "p90": ("p90",), "p99": ("p99",)}


def _doc(path: Path, data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UserError(f"{path}: malformed JSON ({' '.join(str(exc).split())})") from exc
    if not isinstance(doc, dict):
        raise UserError(f"{path}: expected a JSON object")
    return doc


def _latency_metric(name: str, stats: dict[str, float], unit_scale: float = 1.0) -> Metric:
    """A capplan latency metric (value = median) from the tool's statistics, scaled to ms."""
    scaled = {k: float(v) * unit_scale for k, v in stats.items() if v is not None and k != "n"}
    if "n" in stats:
        scaled["n"] = float(stats["n"])
    median = scaled.get("median", scaled.get("p50"))
    if median is None:
        raise ValueError(f"{name}: no median")
    scaled.setdefault("median", median)
    scaled.setdefault("p50", median)
    return Metric(name=name, value=median, unit="ms", higher_is_better=False, stats=scaled)


def _rate(name: str, value: float | None, unit: str) -> list[Metric]:
    return [] if value is None else [Metric(name=name, value=float(value), unit=unit)]


def _record(
    path: Path,
    tool: str,
    doc: Any,
    index: int,
    facts: dict[str, Any],
    metrics: list[Metric],
    samples: dict[str, list[float]],
    software: dict[str, str],
) -> RunRecord:
    load = facts.get("load") or f"point{index}"
    model = str(facts.get("model") or "model")
    return RunRecord(
        run_id=stable_run_id(tool, json.dumps(doc, sort_keys=True, default=str) + f"#{index}"),
        benchmark=f"{tool}-{model}-{load}",
        kind=SERVE_KIND,
        suite=tool,
        config={"facts": {k: v for k, v in facts.items() if v is not None}},
        software=software,
        metrics=metrics,
        samples=samples,
        source=Source.imported,
        origin=f"{tool} result {path.name} ({model} at {facts.get('endpoint', '?')}, {load})",
    )


# -- vLLM bench serve ----------------------------------------------------------------------------------
def is_vllm_bench(path: Path, head: bytes) -> bool:
    """vLLM writes its summary counts before the per-request arrays (so they are in the head) and its
    mean_*_ms statistics after them."""
    return (
        head.lstrip().startswith(b"{")
        and b'"request_throughput"' in head
        and b'"total_output_tokens"' in head
        and b'"num_prompts"' in head
    )


def _vllm_stats(doc: dict[str, Any], metric: str) -> dict[str, float] | None:
    if doc.get(f"mean_{metric}_ms") is None:
        return None
    stats = {
        "mean": doc[f"mean_{metric}_ms"],
        "median": doc.get(f"median_{metric}_ms"),
        "stdev": doc.get(f"std_{metric}_ms"),
    }
    for key, value in doc.items():
        if key.startswith("p") and key.endswith(f"_{metric}_ms"):
            stats[key.removesuffix(f"_{metric}_ms").replace(".", "_")] = value
    stats["n"] = doc.get("completed")
    return {k: v for k, v in stats.items() if v is not None}


@user_errors("vLLM bench serve result")
def load_vllm_bench(path: Path, data: bytes) -> list[RunRecord]:
    """One record per result file (one load point)."""
    doc = _doc(path, data)
    duration = float(doc["duration"])
    completed, failed = int(doc.get("completed", 0)), int(doc.get("failed", 0) or 0)
    metrics: list[Metric] = []
    for name, key in (("ttft_ms", "ttft"), ("tpot_ms", "tpot"), ("itl_ms", "itl"), ("e2e_ms", "e2el")):
        stats = _vllm_stats(doc, key)
        if stats is not None:
            metrics.append(_latency_metric(name, stats))
    if not metrics:
        raise UserError(f"{path}: no TTFT/TPOT/ITL/E2EL statistics (mean_ttft_ms, ...)")
    metrics += _rate("request_throughput_rps", doc.get("request_throughput"), "requests/s")
    metrics += _rate("output_tokens_per_s", doc.get("output_throughput"), "tokens/s")
    metrics += _rate("total_tokens_per_s", doc.get("total_token_throughput"), "tokens/s")
    metrics += _rate("goodput_rps", doc.get("request_goodput"), "requests/s")
    if completed + failed:
        metrics.append(error_rate_metric(failed, completed + failed))
    samples = _vllm_samples(doc)
    rate = doc.get("request_rate")
    rate_rps = float(rate) if isinstance(rate, int | float) and rate != float("inf") else None
    concurrency = doc.get("max_concurrency")
    load = ("r" + f"{rate_rps:g}" if rate_rps else "rinf") + (f"c{concurrency}" if concurrency else "")
    backend = str(doc.get("backend") or doc.get("endpoint_type") or "")
    facts = {
        "tool": "vllm bench serve",
        "endpoint_type": backend,
        "model": doc.get("model_id"),
        "tokenizer": doc.get("tokenizer_id"),
        "load": load,
        "mode": "rate",
        "rate_rps": rate_rps,
        "concurrency": concurrency,
        "arrival": "poisson" if doc.get("burstiness") == 1.0 else "gamma",
        "burstiness": doc.get("burstiness"),
        "duration_s": duration,
        "completed_requests": completed,
        "failed_requests": failed,
        "date": doc.get("date"),
        "token_counts": "vLLM's (server usage when reported, else its tokenizer)",
        "definitions": "vLLM's: TTFT, TPOT = (e2e - TTFT) / (output tokens - 1), ITL = chunk gaps, E2EL."
        + (
            " The openai-chat client starts TTFT at the first chunk with choices: a role-only first chunk "
            "counts as the first token (capplan waits for content or reasoning)."
            if "chat" in backend
            else ""
        ),
    }
    return [_record(path, "vllm-bench-serve", doc, 0, facts, metrics, samples, {})]


def _vllm_samples(doc: dict[str, Any]) -> dict[str, list[float]]:
    """Aligned per-request samples from ``--save-detailed`` arrays (successful requests only)."""
    ttfts, latencies, outs = doc.get("ttfts"), doc.get("latencies"), doc.get("output_lens")
    if not (isinstance(ttfts, list) and isinstance(latencies, list) and isinstance(outs, list)):
        return {}
    errors = doc.get("errors") or [""] * len(ttfts)
    ins = doc.get("input_lens") or [0] * len(ttfts)
    rows = [
        (float(t), float(e), int(o), int(i))
        for t, e, o, i, err in zip(ttfts, latencies, outs, ins, errors, strict=False)
        if not err
    ]
    out: dict[str, list[float]] = {
        "ttft_ms": [1e3 * t for t, _, _, _ in rows],
        "e2e_ms": [1e3 * e for _, e, _, _ in rows],
        "tpot_ms": [1e3 * (e - t) / (o - 1) if o > 1 else 0.0 for t, e, o, _ in rows],
        "output_tokens": [float(o) for *_, o, _ in rows],
        "input_tokens": [float(i) for *_, i in rows],
    }
    itls = doc.get("itls")
    if isinstance(itls, list):
        out["itl_ms"] = [1e3 * float(g) for gaps in itls if isinstance(gaps, list) for g in gaps]
    return out


# -- guidellm ------------------------------------------------------------------------------------------
def is_guidellm_report(path: Path, head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and b'"guidellm_version"' in head and b'"metadata"' in head


def _dist(metrics: dict[str, Any], key: str, group: str = "successful") -> dict[str, float] | None:
    dist = (metrics.get(key) or {}).get(group)
    if not isinstance(dist, dict) or not dist.get("count"):
        return None
    pct = dist.get("percentiles") or {}
    return {
        "mean": dist["mean"],
        "median": dist["median"],
        "stdev": dist.get("std_dev"),
        "min": dist.get("min"),
        "max": dist.get("max"),
        "p50": pct.get("p50"),
        "p90": pct.get("p90"),
        "p95": pct.get("p95"),
        "p99": pct.get("p99"),
        "n": dist["count"],
    }


@user_errors("guidellm report")
def load_guidellm_report(path: Path, data: bytes) -> list[RunRecord]:
    """One record per benchmark (load point) of the report."""
    doc = _doc(path, data)
    meta = doc.get("metadata") or {}
    if meta.get("version") != 2:
        raise UserError(f"{path}: guidellm report schema version {meta.get('version')!r}; supported: 2")
    version = str(meta.get("guidellm_version") or "?")
    out = []
    for index, bench in enumerate(doc.get("benchmarks") or []):
        m = bench["metrics"]
        cfg = bench.get("config") or {}
        strategy, backend = cfg.get("strategy") or {}, cfg.get("backend") or {}
        metrics: list[Metric] = []
        for name, key, scale in (
            ("ttft_ms", "time_to_first_token_ms", 1.0),
            ("tpot_ms", "inter_token_latency_ms", 1.0),
            ("e2e_ms", "request_latency", 1e3),
            ("tpot_incl_first_token_ms", "time_per_output_token_ms", 1.0),
        ):
            stats = _dist(m, key)
            if stats is not None:
                metrics.append(_latency_metric(name, stats, scale))
        totals = m.get("request_totals") or {}
        done, failed = int(totals.get("successful", 0)), int(totals.get("errored", 0))
        duration = float(bench["duration"])
        outs, ins = _dist(m, "output_token_count"), _dist(m, "prompt_token_count")
        out_sum = float(m["output_token_count"]["successful"]["total_sum"]) if outs else None
        in_sum = float(m["prompt_token_count"]["successful"]["total_sum"]) if ins else None
        metrics += _rate("request_throughput_rps", done / duration if duration else None, "requests/s")
        metrics += _rate(
            "output_tokens_per_s", out_sum / duration if out_sum is not None else None, "tokens/s"
        )
        if out_sum is not None and in_sum is not None:
            metrics += _rate("total_tokens_per_s", (in_sum + out_sum) / duration, "tokens/s")
        if done + failed:
            metrics.append(error_rate_metric(failed, done + failed))
        kind = str(strategy.get("type_") or "")
        rate = strategy.get("rate")
        streams = strategy.get("streams") or (1 if kind == "synchronous" else None)
        load = (
            "sync" if kind == "synchronous" else f"r{rate:g}" if rate else f"c{streams}" if streams else kind
        )
        facts = {
            "tool": f"guidellm {version}",
            "endpoint": backend.get("target"),
            "model": backend.get("model"),
            "api": backend.get("request_format"),
            "load": load,
            "strategy": kind,
            "mode": "rate" if rate else "concurrency" if streams and kind != "synchronous" else "synchronous",
            "rate_rps": float(rate) if rate else None,
            "concurrency": streams,
            "arrival": kind if kind in ("poisson", "constant") else None,
            "duration_s": duration,
            "completed_requests": done,
            "failed_requests": failed,
            "definitions": "guidellm's TPOT (time_per_output_token_ms) is e2e / output tokens, first token "
            "included: stored as tpot_incl_first_token_ms; its inter_token_latency_ms is "
            "capplan's TPOT. Token-latency distributions are weighted by tokens. No chunk gaps "
            "(ITL) in the report.",
        }
        out.append(_record(path, "guidellm", doc, index, facts, metrics, {}, {"guidellm": version}))
    if not out:
        raise UserError(f"{path}: the guidellm report has no benchmarks")
    return out


# -- AIPerf / genai-perf ---------------------------------------------------------------------------------
def is_aiperf_export(path: Path, head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and b'"time_to_first_token"' in head and b'"unit"' in head


def _aiperf_stats(doc: dict[str, Any], key: str) -> dict[str, float] | None:
    entry = doc.get(key)
    if not isinstance(entry, dict) or entry.get("avg") is None:
        return None
    unit = entry.get("unit", "ms")
    if unit != "ms":
        raise UserError(f"{key}.unit {unit!r}; allowed: ms")
    stats = {
        "mean": entry["avg"],
        "median": entry.get("p50"),
        "stdev": entry.get("std"),
        "min": entry.get("min"),
        "max": entry.get("max"),
        "p50": entry.get("p50"),
        "p90": entry.get("p90"),
        "p95": entry.get("p95"),
        "p99": entry.get("p99"),
        "n": entry.get("count"),
    }
    return {k: v for k, v in stats.items() if v is not None}


def _avg(doc: dict[str, Any], key: str) -> float | None:
    entry = doc.get(key)
    return float(entry["avg"]) if isinstance(entry, dict) and entry.get("avg") is not None else None


@user_errors("AIPerf/genai-perf profile export")
def load_aiperf_export(path: Path, data: bytes) -> list[RunRecord]:
    """One record per profile export (one load point)."""
    doc = _doc(path, data)
    metrics: list[Metric] = []
    for name, key in (
        ("ttft_ms", "time_to_first_token"),
        ("tpot_ms", "inter_token_latency"),
        ("itl_ms", "inter_chunk_latency"),
        ("e2e_ms", "request_latency"),
    ):
        stats = _aiperf_stats(doc, key)
        if stats is not None:
            metrics.append(_latency_metric(name, stats))
    if not metrics:
        raise UserError(f"{path}: no time_to_first_token/inter_token_latency/request_latency statistics")
    metrics += _rate("request_throughput_rps", _avg(doc, "request_throughput"), "requests/s")
    metrics += _rate("output_tokens_per_s", _avg(doc, "output_token_throughput"), "tokens/s")
    metrics += _rate("total_tokens_per_s", _avg(doc, "total_token_throughput"), "tokens/s")
    metrics += _rate("goodput_rps", _avg(doc, "goodput"), "requests/s")
    error_pct = _avg(doc, "request_error_rate")
    if error_pct is not None:
        metrics.append(Metric(name="error_rate_pct", value=error_pct, unit="%", higher_is_better=False))
    cfg = doc.get("input_config") or {}
    endpoint = cfg.get("endpoint") or {}
    phases = [p for p in cfg.get("phases") or [] if p.get("kind") == "profiling"] or [{}]
    phase = phases[0]
    models = (cfg.get("models") or {}).get("items") or [{}]
    rate, concurrency = phase.get("request_rate"), phase.get("concurrency")
    load = f"r{rate:g}" if rate else f"c{concurrency}" if concurrency else "point"
    version = str(doc.get("aiperf_version") or doc.get("genai_perf_version") or "?")
    tool = "aiperf" if "aiperf_version" in doc else "genai-perf"
    completed = _avg(doc, "completed_request_count") or _avg(doc, "request_count")
    facts = {
        "tool": f"{tool} {version}",
        "endpoint": (endpoint.get("urls") or [None])[0],
        "api": endpoint.get("type"),
        "model": models[0].get("name"),
        "load": load,
        "mode": "rate" if rate else "concurrency",
        "rate_rps": rate,
        "concurrency": concurrency,
        "duration_s": _avg(doc, "benchmark_duration"),
        "completed_requests": int(completed) if completed is not None else None,
        "definitions": f"{tool}'s inter_token_latency is (e2e - TTFT) / (output tokens - 1): capplan's TPOT; "
        "its inter_chunk_latency (chunk gaps) is capplan's ITL.",
    }
    return [_record(path, tool, doc, 0, facts, metrics, {}, {tool: version})]
