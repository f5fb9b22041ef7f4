"""Importer for optimum-benchmark ``benchmark.json`` reports (huggingface/optimum-benchmark).

Layout: ``config`` {name, backend{name, model, device, ...}, scenario{name, input_shapes, ...},
launcher, environment{gpu[], cpu, ...}} and ``report`` {target: {latency{unit, values, mean, p50...},
throughput{unit, value}, memory{unit, max_*}, energy, efficiency}} with targets such as load,
forward, prefill, decode, per_token, train.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from capplan.errors import UserError
from capplan.results.importers import user_errors
from capplan.results.importers.mlperf import stable_run_id
from capplan.results.schema import Metric, RunRecord, Source

TIME_UNITS_TO_MS = {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
_LATENCY_STATS = ("mean", "stdev", "p50", "p90", "p95", "p99", "count", "total")


def is_optimum_report(path: Path, head: bytes) -> bool:
    return (
        head.lstrip().startswith(b"{")
        and b'"config"' in head
        and (b'"backend"' in head or b'"report"' in head)
    )


def _slug(unit: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", unit.lower().replace("/", "_per_")).strip("_")


@user_errors("optimum-benchmark report")
def load_optimum_report(path: Path, data: bytes) -> list[RunRecord]:
    """One record per report: latency/throughput/memory metrics per target, latency samples in ms."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: malformed JSON ({' '.join(str(exc).split())})") from exc
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("config"), dict)
        or not isinstance(doc.get("report"), dict)
    ):
        raise UserError(
            f"{path}: not an optimum-benchmark report (expected top-level 'config' and 'report' objects)"
        )
    cfg, report = doc["config"], doc["report"]
    backend = cfg.get("backend") or {}
    scenario = cfg.get("scenario") or {}
    env = cfg.get("environment") or {}
    metrics: list[Metric] = []
    samples: dict[str, list[float]] = {}
    for target, section in report.items():
        if isinstance(section, dict):
            _target_metrics(path, target, section, metrics, samples)
    if not metrics:
        raise UserError(f"{path}: report has no latency, throughput or memory figures")
    metrics.sort(key=lambda m: (not m.name.endswith("_per_s"), m.name))
    shapes = scenario.get("input_shapes") or {}
    gen_kwargs = scenario.get("generate_kwargs") or {}
    device = str(backend.get("device") or "")
    gpus = env.get("gpu") or []
    accelerator = (
        gpus[0]
        if device.startswith("cuda") and gpus
        else env.get("cpu", "").strip()
        if device == "cpu"
        else None
    )
    kind = "generate" if "decode" in report else "train" if scenario.get("name") == "training" else "infer"
    config = {
        "model": backend.get("model"),
        "model_type": backend.get("model_type"),
        "backend": backend.get("name"),
        "device": device,
        "dtype": backend.get("torch_dtype") or backend.get("dtype"),
        "scenario": scenario.get("name"),
        "batch": shapes.get("batch_size"),
        "seq_len": shapes.get("sequence_length"),
        "gen_tokens": gen_kwargs.get("max_new_tokens") or scenario.get("new_tokens"),
        "accelerator_count": env.get("gpu_count") if device.startswith("cuda") else None,
        "optimum_benchmark_version": env.get("optimum_benchmark_version"),
    }
    name = str(cfg.get("name") or f"optimum-{backend.get('model', 'model')}")
    software = {k: str(v) for k, v in env.items() if k.endswith("_version") and v}
    return [
        RunRecord(
            run_id=stable_run_id("optimum", json.dumps(doc, sort_keys=True)),
            benchmark=name,
            kind=kind,
            suite="optimum-benchmark",
            config={k: v for k, v in config.items() if v is not None},
            software=software,
            metrics=metrics,
            samples=samples,
            source=Source.imported,
            tags={"accelerator": str(accelerator)} if accelerator else {},
            origin=f"optimum-benchmark report {path} ({backend.get('name', '?')} {backend.get('model', '?')} "
                   f"on {accelerator or device or '?'})",
        )
    ]


def _target_metrics(path: Path, target: str, section: dict[str, Any], metrics: list[Metric],
                    samples: dict[str, list[float]]) -> None:
    latency = section.get("latency")
    if isinstance(latency, dict) and latency.get("p50") is not None:
        unit = str(latency.get("unit", "s"))
        if unit not in TIME_UNITS_TO_MS:
            raise UserError(
                f"{path}: report.{target}.latency.unit {unit!r}; allowed: {', '.join(TIME_UNITS_TO_MS)}"
            )
        scale = TIME_UNITS_TO_MS[unit]
        stats = {
            k: float(latency[k]) * (1 if k == "count" else scale)
            for k in _LATENCY_STATS
            if latency.get(k) is not None
        }
        metrics.append(Metric(name=f"{target}_latency_p50_ms", value=float(latency["p50"]) * scale, unit="ms",
                              higher_is_better=False, stats=stats))
        if latency.get("values"):
            samples[f"{target}_latency_ms"] = [float(v) * scale for v in latency["values"]]
    throughput = section.get("throughput")
    if isinstance(throughput, dict) and throughput.get("value") is not None:
        unit = str(throughput.get("unit", "samples/s"))
        metrics.append(
            Metric(name=f"{target}_throughput_{_slug(unit)}", value=float(throughput["value"]), unit=unit)
        )
    memory = section.get("memory")
    if isinstance(memory, dict):
        unit = str(memory.get("unit", "MB"))
        for key, value in memory.items():
            if key.startswith("max_") and value is not None:
                metrics.append(Metric(name=f"{target}_{key}_{_slug(unit)}", value=float(value), unit=unit,
                                      higher_is_better=False))
