"""Parse LoadGen's output: ``mlperf_log_detail.txt`` (one ``:::MLLOG {json}`` per line) for numbers
and verdicts, ``mlperf_log_summary.txt`` for LoadGen's own explanation of an INVALID result."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

DETAIL_FILE = "mlperf_log_detail.txt"
SUMMARY_FILE = "mlperf_log_summary.txt"
_PERCENTILE_KEY = re.compile(r"^result_(\d+\.\d+)_percentile_latency_ns$")
_PER_QUERY_KEY = re.compile(r"^result_(\d+\.\d+)_percentile_per_query_latency_ns$")  # MultiStream's metric
# Throughput key per scenario: Server reports completed samples/s, Offline samples/s, SingleStream QPS.
_RATE_KEYS = (
    "result_completed_samples_per_sec",
    "result_samples_per_second",
    "result_qps_with_loadgen_overhead",
)
_EARLY_STOPPING_KEYS = (
    "early_stopping_latency_ss",
    "early_stopping_latency_ms",
)  # both in ns despite the name
_CHECKS = {  # detail-log boolean -> the summary's wording of that check
    "result_perf_constraints_met": "Performance constraints satisfied",
    "result_min_duration_met": "Min duration satisfied",
    "result_min_queries_met": "Min queries satisfied",
    "early_stopping_met": "Early stopping satisfied",
}


class LoadGenResult(BaseModel):
    """What one LoadGen run reported."""

    scenario: str
    valid: bool
    reasons: list[str] = Field(
        default_factory=list, description="LoadGen's failed checks and recommendations"
    )
    checks: dict[str, bool] = Field(
        default_factory=dict, description="LoadGen's checks (detail-log key -> met)"
    )
    samples_per_s: float | None = Field(
        None, description="completed samples/s (Server/Offline); QPS (SingleStream)"
    )
    scheduled_samples_per_s: float | None = None
    query_count: int | None = None
    overlatency_query_count: int | None = None
    latency_percentiles_ms: dict[str, float] = Field(
        default_factory=dict, description="percentile -> ms, per sample (per query for MultiStream)"
    )
    early_stopping_latency_ms: float | None = Field(
        None, description="LoadGen's early-stopping percentile estimate"
    )
    mean_latency_ms: float | None = None
    early_stopping: str | None = Field(None, description="LoadGen's early-stopping result text")
    target_qps: float | None = None
    latency_bound_ms: float | None = None


def read_detail(path: Path) -> dict[str, Any]:
    """Key -> value of every MLLOG line (the last value wins for repeated keys)."""
    entries: dict[str, Any] = {}
    for line in path.read_text(errors="replace").splitlines():
        _, sep, payload = line.partition(":::MLLOG ")
        if not sep:
            continue
        try:
            item = json.loads(payload)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and "key" in item:
            entries[item["key"]] = item.get("value")
    return entries


def summary_reasons(text: str) -> list[str]:
    """The failed checks (``... satisfied : NO``) and the lines under ``Recommendations:``."""
    reasons = [line.strip() for line in text.splitlines() if re.search(r"satisfied\s*:\s*NO\b", line)]
    lines = text.splitlines()
    if "Recommendations:" in lines:
        for line in lines[lines.index("Recommendations:") + 1 :]:
            if not line.startswith(" * "):
                break
            reasons.append(line.strip(" *"))
    return reasons


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_logs(outdir: Path) -> LoadGenResult:
    """A LoadGenResult from the logs LoadGen wrote to ``outdir``; ValueError when they are missing."""
    detail_path = outdir / DETAIL_FILE
    if not detail_path.exists():
        raise ValueError(f"{outdir}: no {DETAIL_FILE}; did LoadGen run?")
    d = read_detail(detail_path)
    if "result_validity" not in d:
        raise ValueError(f"{detail_path}: no result_validity entry; the LoadGen run did not finish")
    summary_path = outdir / SUMMARY_FILE
    reasons = summary_reasons(summary_path.read_text(errors="replace")) if summary_path.exists() else []
    if not reasons:  # summary missing or silent: name the failed checks from the detail log
        reasons = [f"{label} : NO" for key, label in _CHECKS.items() if d.get(key) is False]
    if d.get("result_invalid_reason"):
        reasons.append(str(d["result_invalid_reason"]).strip())
    reasons = list(dict.fromkeys(reasons))  # the summary and the detail log often say the same thing
    scenario = str(d.get("effective_scenario", d.get("requested_scenario", "")))
    pattern = _PER_QUERY_KEY if scenario == "MultiStream" else _PERCENTILE_KEY
    percentiles = {
        m.group(1).rstrip("0").rstrip("."): v / 1e6
        for k, v in d.items()
        if (m := pattern.match(k)) and _float(v) is not None
    }
    rate = next((_float(d[k]) for k in _RATE_KEYS if k in d), None)
    early_ns = next((_float(d[k]) for k in _EARLY_STOPPING_KEYS if _float(d.get(k))), None)
    bound = _float(d.get("effective_target_latency_ns"))
    return LoadGenResult(
        scenario=scenario,
        valid=d["result_validity"] == "VALID",
        reasons=reasons,
        checks={key: bool(d[key]) for key in _CHECKS if isinstance(d.get(key), bool)},
        samples_per_s=rate,
        scheduled_samples_per_s=_float(d.get("result_scheduled_samples_per_sec")),
        query_count=d.get("result_query_count"),
        overlatency_query_count=d.get("result_overlatency_query_count"),
        latency_percentiles_ms=percentiles,
        mean_latency_ms=(_float(d.get("result_mean_latency_ns")) or 0) / 1e6
        if "result_mean_latency_ns" in d
        else None,
        early_stopping_latency_ms=early_ns / 1e6 if early_ns else None,
        early_stopping=" ".join(str(d["early_stopping_result"]).split())
        if d.get("early_stopping_result")
        else None,
        target_qps=_float(d.get("effective_target_qps")) if scenario == "Server" else None,
        latency_bound_ms=bound / 1e6 if bound and scenario == "Server" else None,
    )
