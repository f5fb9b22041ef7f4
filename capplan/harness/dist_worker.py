"""One rank of a distributed benchmark, started by torchrun (see capplan.harness.launch).

Reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), joins the process
group (NCCL on GPUs, gloo on CPU), runs the kind's per-rank function, and on global rank 0 writes the
KindResult as JSON into ``--out``. The job may hold several benchmarks: they run in order in the
same process group (one start-up, one rendezvous).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from capplan.harness.child import error_line, is_oom
from capplan.harness.kinds.collective import (
    CollectiveParams,
    bus_factor,
    check_sizes,
    run_collective,
    size_label,
)
from capplan.harness.launch import ERROR_PREFIX, RANK_PREFIX, RESULT_PREFIX
from capplan.harness.metrics import add_metric, flag_noise
from capplan.harness.registry import resolve_kind
from capplan.harness.spec import BenchmarkSpec, KindResult
from capplan.results.schema import Status


def collective_under_group(
    spec: BenchmarkSpec, params: CollectiveParams, rank: int, world: int, device: str
) -> KindResult | None:
    """nccl-tests-style algbw/busbw per op and size over the whole group: torchrun's world size
    replaces params.world_size (whose bound is for locally spawned ranks only; a torchrun group may
    span any number of nodes), and the sizes are checked against it."""
    try:
        check_sizes(params.sizes_bytes, world)
    except ValueError as exc:
        raise ValueError(f"{exc} (torchrun group of {world})") from None
    samples = {op: run_collective(op, params.sizes_bytes, world, rank, device=device, dtype=spec.dtype,
                                  warmup_iters=params.warmup_iters, iters=params.iters) for op in params.ops}
    if rank != 0:
        return None
    result = KindResult(metrics=[], config={"world_size": world, "timing": "slowest rank per iteration"})
    for op, by_size in samples.items():
        for nbytes in sorted(by_size, reverse=True):
            label = size_label(nbytes)
            add_metric(result, f"{op}_busbw_gbps_{label}", by_size[nbytes], "GB/s",
                       scale=nbytes * bus_factor(op, world) / 1e9, invert=True)
            add_metric(
                result, f"{op}_algbw_gbps_{label}", by_size[nbytes], "GB/s", scale=nbytes / 1e9, invert=True
            )
    return result


def main(argv: list[str] | None = None) -> None:
    import torch
    import torch.distributed as dist

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job", type=Path, required=True, help="job JSON written by the launcher")
    parser.add_argument("--out", type=Path, required=True, help="directory for rank 0's results")
    args = parser.parse_args(argv)
    job = json.loads(args.job.read_text())
    rank, world, local_rank = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    cuda = BenchmarkSpec.model_validate(job["items"][0]["spec"]).device.startswith("cuda")
    device = f"cuda:{local_rank}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(local_rank)  # one GPU per local rank: NCCL and default streams use it
    torch.set_num_threads(job["threads"])
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=job["timeout_s"]))
    (args.out / f"{RANK_PREFIX}{rank}").touch()
    facts = {
        "process_group": backend,
        "nnodes": job["nnodes"],
        "threads_per_rank": job["threads"],
        "launcher": "torchrun",
    }
    try:
        for i, item in enumerate(job["items"]):
            try:
                result = _run_item(item, rank, world, device)
            except BaseException as exc:  # recorded for the launcher; torchrun then stops every rank
                status = Status.oom if is_oom(exc) else Status.failed
                error = {"status": status.value, "error": error_line(exc)}
                _write_json(args.out / f"{ERROR_PREFIX}{i}-{rank}.json", error)
                raise
            if result is not None:
                result["config"].update(facts)
                _write_json(args.out / f"{RESULT_PREFIX}{i}.json", result)
    finally:
        dist.destroy_process_group()


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write then rename: the launcher never reads half a file, even if the job is killed."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


def _run_item(item: dict[str, Any], rank: int, world: int, device: str) -> dict[str, Any] | None:
    """One benchmark on this rank; on rank 0 its KindResult as JSON plus ``span_utc`` (start and end)."""
    import torch

    spec = BenchmarkSpec.model_validate(item["spec"])
    params: BaseModel = resolve_kind(spec.kind).Params.model_validate(item["params"])
    module, _, func = item["worker"].partition(":")
    per_rank = getattr(importlib.import_module(module), func)
    torch.manual_seed(spec.seed)
    started = datetime.now(UTC)
    result = per_rank(spec, params, rank, world, device)
    if result is None:
        return None
    flag_noise(result, spec.budget.target_rel_ci)
    span = {"started_utc": started.isoformat(), "ended_utc": datetime.now(UTC).isoformat()}
    return result.model_dump(mode="json") | {"span_utc": span}


if __name__ == "__main__":
    main()
