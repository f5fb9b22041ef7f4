"""Workload descriptions for projection: named workloads and stored runs turned into WorkloadDescs.

Named workloads are described in closed form from their published shapes (capplan.perfmodel.named);
records from the harness carry measured counts in their config (``flops_per_sample``, ``param_count``,
``activation_bytes_per_sample``...) and are described from those. A record's task is what its kind
declares (capplan.harness.registry.record_kind_task); a LoadGen result (it has a ``scenario``) of a
generative benchmark such as llama2-70b measured generation, whatever kind imported it.
"""

from __future__ import annotations

import difflib
from typing import Any

from capplan.errors import UserError
from capplan.harness.registry import record_kind_task
from capplan.perfmodel.closed_forms import resnet, transformer
from capplan.perfmodel.desc import (
    DEFAULT_GEN_TOKENS,
    DTYPE_BYTES,
    WORKLOAD_TASKS,
    Task,
    WorkloadDesc,
    canonical_dtype,
)
from capplan.perfmodel.named import ALIASES, WORKLOADS, lookup, variant_of
from capplan.results.schema import RunRecord

__all__ = [
    "ALIASES",
    "DEFAULT_GEN_TOKENS",
    "DTYPE_BYTES",
    "OFFLINE_NOMINAL_BATCH",
    "WORKLOADS",
    "WORKLOAD_TASKS",
    "Task",
    "WorkloadDesc",
    "canonical_dtype",
    "describe_record",
    "describe_run",
    "named_workload",
    "resnet",
    "transformer",
]

# MLPerf Offline lets the system pick its (large, throughput-oriented) batch and publishes no batch
# size with the result; 256 is assumed so weight traffic is amortised as it is at large batch.
OFFLINE_NOMINAL_BATCH = 256


def unknown_workload(name: str) -> UserError:
    """One line naming the valid workloads (and close matches)."""
    known = sorted([*WORKLOADS, *ALIASES])
    close = difflib.get_close_matches(name.lower(), known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return UserError(
        f"workload {name!r} is unknown{hint}; allowed: {', '.join(sorted(WORKLOADS))} or a stored run id"
    )


def named_workload(
    name: str,
    *,
    task: Task | None = None,
    dtype: str = "fp32",
    batch: int = 1,
    seq_len: int | None = None,
    gen_tokens: float | None = None,
) -> WorkloadDesc:
    """Closed-form description of a named workload at its defaults (task, lengths) unless overridden;
    UserError listing the valid names otherwise."""
    key = lookup(name)
    if key is None:
        raise unknown_workload(name)
    desc = WORKLOADS[key].describe(seq_len)
    updates: dict[str, Any] = {"dtype": canonical_dtype(dtype), "batch": batch, "variant": variant_of(name)}
    if task is not None:
        updates["task"] = task
    if gen_tokens is not None:
        updates["gen_tokens"] = gen_tokens
    return desc.model_copy(update=updates)


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else values


def describe_record(config: dict[str, Any], task: str | None) -> WorkloadDesc | None:
    """WorkloadDesc from a run's config: measured counts when present, else the closed form; None if neither.

    ``task`` is what the record's kind declares (capplan.harness.registry.record_kind_task); a record
    whose kind measures no workload task (micro, or unknown) describes no workload.

    Keys read (as the harness's model kinds and the MLPerf importers store them): model, size, dtype,
    scenario, best_batch/batch, seq_len or prompt_lens, output_lens/gen_tokens, flops_per_sample,
    train_flops_per_sample, param_count, activation_bytes_per_sample, model_shape.
    """
    # The runner stores the spec (with ``params``) and puts the kind's facts under ``facts``.
    config = {**(config.get("params") or {}), **config, **(config.get("facts") or {})}
    if task not in WORKLOAD_TASKS:
        return None
    model = str(config.get("model") or config.get("workload") or "")
    size = config.get("size")
    name = f"{model}-{size}" if size else model
    key = lookup(name)
    if not config.get("flops_per_sample") and key is None:
        return None  # not a model workload (a gemm or membw micro-benchmark, say): checked before its dtype
    dtype = canonical_dtype(str(config.get("dtype") or "fp32"))
    offline = OFFLINE_NOMINAL_BATCH if config.get("scenario") == "Offline" else 1
    # The headline throughput is at the best batch of a sweep; without ``best_batch`` the largest swept one.
    swept = max(config.get("batches") or [0])
    batch = int(
        config.get("best_batch") or config.get("batch") or config.get("batch_size") or swept or offline
    )
    seq = config.get("seq_len") or _first(config.get("prompt_lens"))
    gen = config.get("gen_tokens") or _first(config.get("output_lens")) or config.get("max_new_tokens")
    if config.get("flops_per_sample"):
        desc = _measured(config, key or name or "record", model, dtype)
    else:
        assert key is not None
        entry = WORKLOADS[key]
        desc = entry.describe(int(seq) if seq else None)
        if task == "infer" and entry.task == "generate" and config.get("scenario"):
            task = "generate"  # a LoadGen result of a generative benchmark measured generation
    updates: dict[str, Any] = {"task": task, "dtype": dtype, "batch": batch, "variant": variant_of(name)}
    if gen:
        updates["gen_tokens"] = float(gen)
    return desc.model_copy(update=updates)


def describe_run(record: RunRecord) -> WorkloadDesc | None:
    """The workload a stored run measured, classified by what its kind declares (never by its name)."""
    return describe_record(record.config, record_kind_task(record.kind, record.config))


# capplan.workloads.flops counts parameter and activation bytes on the fp32 model it builds.
FACTS_DTYPE_BYTES = 4


def _measured(config: dict[str, Any], name: str, family: str, dtype: str) -> WorkloadDesc:
    params = float(
        config.get("param_count") or float(config.get("param_bytes", 0)) / FACTS_DTYPE_BYTES or 1.0
    )
    saved = float(config.get("activation_bytes_per_sample") or 0) / FACTS_DTYPE_BYTES
    shape = config.get("model_shape") or config.get("shape")
    shape = shape if isinstance(shape, dict) else {}
    layers, d_model = shape.get("layers"), shape.get("d_model")
    kv = 2 * layers * d_model if layers and d_model and family in {"gpt", "llama"} else None
    seq = config.get("seq_len") or _first(config.get("prompt_lens"))
    return WorkloadDesc(
        name=name,
        family=family or "other",
        dtype=dtype,
        seq_len=int(seq) if seq else None,
        flops_per_sample=float(config["flops_per_sample"]),
        train_flops_per_sample=float(config["train_flops_per_sample"])
        if config.get("train_flops_per_sample")
        else None,
        param_count=params,
        # Forward traffic ~ twice the saved activations (each written once, read once); live set ~ saved.
        io_elems_per_sample=2 * saved,
        live_elems_per_sample=saved,
        saved_elems_per_sample=saved,
        kv_elems_per_token=kv,
        layers=int(layers) if layers else None,
        d_model=int(d_model) if d_model else None,
        source="measured counts stored with the run (torch.utils.flop_counter)",
    )
