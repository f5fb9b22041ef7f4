"""Importers for MLPerf Inference results: LoadGen ``mlperf_log_summary.txt`` and results-table CSV.

A summary log inside an MLPerf results tree
(``<division>/<submitter>/results/<system>/<benchmark>/<scenario>/performance/run_1/``) also yields
division, submitter, system, benchmark and scenario from its path, and the round from an
``inference_results_vX.Y`` directory. When publishing comparisons, cite round, submitter and
division, as MLPerf's usage rules ask; ``origin`` keeps them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path
from typing import Any

from capplan.errors import UserError
from capplan.results.importers import user_errors
from capplan.results.schema import Metric, RunRecord, Source

NS_PER_MS = 1e6
# System-name segments that are not accelerators (ISA, frameworks, power modes).
_NOT_ACCELERATOR = {"aarch64", "x86_64", "x86", "trt", "triton", "maxq", "tensorrt", "onnxruntime", "pytorch"}
_SUMMARY_MARK = b"MLPerf Results Summary"
# Headline lines of a summary log -> (metric name, unit, higher is better).
_HEADLINES = {
    "samples per second": ("throughput_samples_per_s", "samples/s", True),
    "completed samples per second": ("throughput_samples_per_s", "samples/s", True),
    "scheduled samples per second": ("scheduled_samples_per_s", "samples/s", True),
    "tokens per second": ("throughput_tokens_per_s", "tokens/s", True),
    "completed tokens per second": ("throughput_tokens_per_s", "tokens/s", True),
    "qps w/ loadgen overhead": ("qps_with_loadgen_overhead", "queries/s", True),
    "qps w/o loadgen overhead": ("qps_without_loadgen_overhead", "queries/s", True),
}
_PERCENTILE = re.compile(r"^(\d+(?:\.\d+)?)(?:th)? percentile (.*?)\s*\(ns\)$")
_STAT = re.compile(r"^(min|max|mean) (.*?)\s*\(ns\)$")
_LATENCY_PREFIX = {"latency": "latency", "first token latency": "ttft", "time to output token": "tpot"}


def stable_run_id(*parts: str) -> str:
    """Deterministic id for a published result, so importing it twice finds the same record."""
    return "ext-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def split_system(system: str) -> tuple[list[str], int | None]:
    """Accelerator name candidates and count from an MLPerf system name, e.g.
    'DGX-H100_H100-SXM-80GBx8_TRT'."""
    candidates, count = [], None
    for segment in system.split("_"):
        match = re.fullmatch(r"(.+?)x(\d+)", segment)
        stem = match.group(1) if match else segment
        if match:
            count = int(match.group(2))
        if stem.lower() not in _NOT_ACCELERATOR and any(ch.isdigit() for ch in stem):
            candidates.append(stem)
    return candidates, count


# -- mlperf_log_summary.txt -------------------------------------------------------------------------
def is_summary_log(path: Path, head: bytes) -> bool:
    return _SUMMARY_MARK in head and b"Scenario" in head


@user_errors("LoadGen summary log")
def load_summary_log(path: Path, data: bytes) -> list[RunRecord]:
    """One record from a LoadGen summary log: throughput, latency percentiles (ms), test parameters."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text; expected a LoadGen mlperf_log_summary.txt") from exc
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith("="):
            fields.setdefault(key.strip().lower(), value.strip())
    scenario = fields.get("scenario")
    if not scenario:
        raise UserError(f"{path}: no 'Scenario :' line; not a complete LoadGen summary log")
    metrics = _summary_metrics(fields, path)
    if not metrics:
        raise UserError(f"{path}: no throughput or latency lines found in the LoadGen summary")
    ctx = _path_context(path)
    benchmark = ctx.get("benchmark", "loadgen")
    candidates, count = split_system(ctx.get("system", ""))
    config: dict[str, Any] = {
        "model": benchmark,
        "scenario": scenario,
        "sut_name": fields.get("sut name"),
        "mode": fields.get("mode"),
        "accelerator_candidates": candidates,
        "accelerator_count": count,
        **{k: ctx[k] for k in ("round", "division", "submitter", "system") if k in ctx},
        **{
            k: _number(fields[k])
            for k in (
                "samples_per_query",
                "target_qps",
                "min_duration (ms)",
                "performance_sample_count",
                "qsl_rng_seed",
            )
            if k in fields
        },
    }
    tags = {"result_validity": fields.get("result is", "unknown"), "scenario": scenario}
    if candidates:
        tags["accelerator"] = candidates[-1]
    origin = " ".join(str(ctx[k]) for k in ("round", "division", "submitter", "system") if k in ctx)
    return [
        RunRecord(
            run_id=stable_run_id(str(path.resolve()), text)
            if not ctx
            else stable_run_id(
                *(str(ctx.get(k, "")) for k in ("round", "division", "submitter", "system", "benchmark")),
                scenario,
            ),
            benchmark=f"mlperf-{benchmark}-{scenario}",
            kind="infer",
            suite="mlperf-inference",
            config=config,
            metrics=metrics,
            tags=tags,
            source=Source.imported,
            origin=f"MLPerf LoadGen summary {path}" + (f" ({origin})" if origin else ""),
        )
    ]


def _number(value: str) -> int | float | str:
    """int when integral (seeds exceed float precision), else float, else the text."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _summary_metrics(fields: dict[str, str], path: Path) -> list[Metric]:
    metrics: dict[str, Metric] = {}
    for key, value in fields.items():
        number = _number(value)
        if isinstance(number, str):
            continue
        if number < 0:
            raise UserError(
                f"{path}: line '{key}': {number:g} is negative; throughputs and latencies must be >= 0"
            )
        if key in _HEADLINES:
            name, unit, higher = _HEADLINES[key]
            metrics.setdefault(name, Metric(name=name, value=number, unit=unit, higher_is_better=higher))
            continue
        pct, stat = _PERCENTILE.match(key), _STAT.match(key)
        what = (pct.group(2) if pct else stat.group(2) if stat else "").strip()
        if what in _LATENCY_PREFIX:
            label = "p" + f"{float(pct.group(1)):g}".replace(".", "_") if pct else stat.group(1)  # type: ignore[union-attr]
            name = f"{_LATENCY_PREFIX[what]}_{label}_ms"
            metrics.setdefault(
                name, Metric(name=name, value=number / NS_PER_MS, unit="ms", higher_is_better=False)
            )
    return list(metrics.values())  # file order: the scenario's result line comes first


def _path_context(path: Path) -> dict[str, str]:
    parts = path.parts
    ctx: dict[str, str] = {}
    for part in parts:
        match = re.search(r"inference_results_(v\d+\.\d+)", part)
        if match:
            ctx["round"] = match.group(1)
    if "results" in parts:
        i = len(parts) - 1 - parts[::-1].index("results")
        if i >= 2:
            ctx["division"], ctx["submitter"] = parts[i - 2], parts[i - 1]
        names = ("system", "benchmark", "scenario")
        ctx.update({n: parts[i + 1 + j] for j, n in enumerate(names) if i + 1 + j < len(parts) - 1})
    return ctx


# -- results table CSV ------------------------------------------------------------------------------
# Column names accepted (case-insensitive): MLCommons results-table exports and a minimal layout.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "round": ("round", "version", "inference version"),
    "division": ("division",),
    "submitter": ("submitter", "organization"),
    "system": ("system", "system name", "system_name"),
    "accelerator": ("accelerator", "accelerator_model_name", "accelerator model name"),
    "accelerator_count": (
        "accelerator_count",
        "# of accelerators",
        "accelerators",
        "a#",
        "accelerators_per_node",
    ),
    "benchmark": ("benchmark", "model"),
    "scenario": ("scenario",),
    "result": ("result", "avg. result", "performance_result"),
    "units": ("units", "unit", "performance_units"),
    "dtype": ("dtype", "precision", "weight_data_types"),
    "source": ("source", "public id", "url"),
    "source_date": ("source_date", "date"),
}
CSV_REQUIRED = ("submitter", "system", "benchmark", "scenario", "result", "units")
# Result units -> metric (name, unit, higher is better).
CSV_UNITS = {
    "samples/s": ("throughput_samples_per_s", "samples/s", True),
    "queries/s": ("throughput_queries_per_s", "queries/s", True),
    "tokens/s": ("throughput_tokens_per_s", "tokens/s", True),
    "latency (ms)": ("latency_p90_ms", "ms", False),
    "ms": ("latency_p90_ms", "ms", False),
}


def _csv_header_map(header: list[str]) -> dict[str, str]:
    lowered = {h.strip().lower(): h for h in header}
    return {field: lowered[name] for field, names in CSV_COLUMNS.items() for name in names if name in lowered}


def is_results_csv(path: Path, head: bytes) -> bool:
    if path.suffix.lower() != ".csv":
        return False
    first = head.decode("utf-8", errors="replace").splitlines()[:1]
    mapping = _csv_header_map(next(csv.reader(first), [])) if first else {}
    return all(field in mapping for field in CSV_REQUIRED)


@user_errors("MLPerf results CSV")
def load_results_csv(path: Path, data: bytes) -> list[RunRecord]:
    """One record per row of an MLPerf results table; per-accelerator throughput is computed later."""
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text") from exc
    cols = _csv_header_map(reader.fieldnames or [])
    out = []
    for number, raw in enumerate(reader, start=1):
        row = {field: (raw.get(col) or "").strip() for field, col in cols.items()}
        out.append(_csv_record(path, number, row))
    if not out:
        raise UserError(f"{path}: MLPerf results CSV has a header but no rows")
    return out


def _csv_record(path: Path, number: int, row: dict[str, str]) -> RunRecord:
    where = f"{path}: row {number}"
    missing = [f for f in CSV_REQUIRED if not row.get(f)]
    if missing:
        raise UserError(f"{where}: field {missing[0]!r} is empty; required: {', '.join(CSV_REQUIRED)}")
    unit_key = row["units"].lower()
    if unit_key not in CSV_UNITS:
        raise UserError(f"{where}: field 'units': {row['units']!r}; allowed: {', '.join(CSV_UNITS)}")
    try:
        value = float(row["result"].replace(",", ""))
        count = int(row["accelerator_count"]) if row.get("accelerator_count") else None
    except ValueError as exc:
        raise UserError(f"{where}: field 'result'/'accelerator_count' is not a number ({exc})") from exc
    name, unit, higher = CSV_UNITS[unit_key]
    candidates, sys_count = split_system(row["system"])
    accelerator = row.get("accelerator") or (candidates[-1] if candidates else "")
    config: dict[str, Any] = {
        "model": row["benchmark"],
        "scenario": row["scenario"],
        "round": row.get("round"),
        "division": row.get("division"),
        "submitter": row["submitter"],
        "system": row["system"],
        "accelerator_candidates": [accelerator, *candidates],
        "accelerator_count": count or sys_count,
        "dtype": row.get("dtype") or None,
        "source": row.get("source") or None,
        "source_date": row.get("source_date") or None,
    }
    cite = " ".join(
        x
        for x in (
            f"MLPerf Inference {row.get('round', '')}".strip(),
            row.get("division"),
            row["submitter"],
            row["system"],
        )
        if x
    )
    tags = {"scenario": row["scenario"], **({"accelerator": accelerator} if accelerator else {})}
    return RunRecord(
        run_id=stable_run_id(
            *(row.get(k, "") for k in ("round", "division", "submitter", "system", "benchmark", "scenario"))
        ),
        benchmark=f"mlperf-{row['benchmark']}-{row['scenario']}",
        kind="infer",
        suite="mlperf-inference",
        config={k: v for k, v in config.items() if v not in (None, "")},
        metrics=[Metric(name=name, value=value, unit=unit, higher_is_better=higher)],
        tags=tags,
        source=Source.imported,
        origin=f"{cite} ({path.name} row {number})",
    )
