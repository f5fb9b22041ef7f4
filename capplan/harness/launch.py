"""Distributed benchmarks through torchrun (``python -m torch.distributed.run``): one node or many.

Every node runs the same launcher with its own ``--node-rank``; torchrun starts ``--nproc`` workers
(capplan.harness.dist_worker) per node, they meet at the c10d rendezvous and form one process group
(gloo on CPU, NCCL on GPUs). The c10d rendezvous assigns ranks, so global rank 0 may run on any
node: its worker writes the results, and the launcher on that node turns them into RunRecords and
stores them. Other nodes store nothing (unless none of their ranks ever started: then they record
the failure, which only they can see). All benchmarks of one launch run in one torchrun job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from capplan.errors import UserError
from capplan.hardware.inventory import cuda_uuids, torch_cuda_devices
from capplan.hardware.telemetry import host_busy_pct, sample_telemetry
from capplan.harness.device import cuda_index
from capplan.harness.registry import kind_info
from capplan.harness.runner import (
    CONTENDED_BUSY_PCT,
    LOAD_WINDOW_S,
    Outcome,
    PlannedBenchmark,
    RunEnvironment,
    build_record,
    request_config,
    torch_threads,
)
from capplan.harness.spec import BenchmarkSpec
from capplan.results.schema import RunRecord, Status
from capplan.results.store import Store

RESULT_PREFIX = "result-"  # result-<item>.json, written by global rank 0
ERROR_PREFIX = "error-"  # error-<item>-<rank>.json, written by a rank whose benchmark raised
RANK_PREFIX = "rank-"  # rank-<global rank>, written by every worker once it joined the group
OUTPUT_TAIL_CHARS = 8192
# Added to the benchmarks' timeout_s: torchrun and N fresh interpreters importing torch (seconds each
# on a busy laptop), plus waiting at the rendezvous until every node has joined.
STARTUP_ALLOWANCE_S = 120.0
KILL_GRACE_S = 10.0  # after SIGTERM (torchrun stops its workers), then SIGKILL


class LaunchOptions(BaseModel):
    """Where the ranks run: processes per node, and for several nodes the rendezvous."""

    model_config = ConfigDict(extra="forbid")

    nproc: int = Field(
        1, ge=1, le=1024, description="processes per node: one per GPU (CPU ranks share the cores)"
    )
    nnodes: int = Field(1, ge=1, le=4096, description="nodes taking part; every node runs the same command")
    node_rank: int = Field(0, ge=0, description="this node's index, 0..nnodes-1")
    rdzv_endpoint: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.\-]+:\d{1,5}$",
        description="HOST:PORT of the c10d rendezvous on node 0 (required with more than one node)",
    )
    rdzv_id: str = Field(
        "capplan", pattern=r"^[A-Za-z0-9_.\-]+$", description="job id, the same on every node"
    )

    @model_validator(mode="after")
    def _consistent(self) -> LaunchOptions:
        if self.node_rank >= self.nnodes:
            raise ValueError(f"--node-rank: {self.node_rank} must be below --nnodes {self.nnodes}")
        if self.nnodes > 1 and self.rdzv_endpoint is None:
            raise ValueError("--rdzv-endpoint: HOST:PORT of node 0 is required with --nnodes > 1")
        return self

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes


def launch_options(**values: Any) -> LaunchOptions:
    """LaunchOptions from CLI values; a bad value is a UserError naming the option."""
    try:
        return LaunchOptions(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = err["msg"].removeprefix("Value error, ")  # cross-field checks name their flags themselves
        raise UserError(
            f"--{str(err['loc'][0]).replace('_', '-')}: {message}" if err["loc"] else message
        ) from exc


def is_distributed(spec: BenchmarkSpec) -> bool:
    """True for kinds that declare the distributed role (they run under torchrun)."""
    return kind_info(spec.kind).role == "distributed"


def torchrun_argv(opts: LaunchOptions, job: Path, out_dir: Path) -> list[str]:
    """The torchrun command line for this node."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(opts.nproc)]
    if opts.rdzv_endpoint is None:
        argv.append("--standalone")  # single node: a private c10d rendezvous on a free local port
    else:
        argv += ["--nnodes", str(opts.nnodes), "--node-rank", str(opts.node_rank), "--rdzv-backend", "c10d",
                 "--rdzv-endpoint", opts.rdzv_endpoint, "--rdzv-id", opts.rdzv_id]
    return [*argv, "-m", "capplan.harness.dist_worker", "--job", str(job), "--out", str(out_dir)]


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM torchrun (it stops its workers), then SIGKILL whatever is left."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    proc.terminate()
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and "Traceback" not in line]
    return lines[-1][:300] if lines else ""


def threads_per_rank(opts: LaunchOptions) -> int:
    """CPU ranks on one node split its cores."""
    return max(1, torch_threads() // opts.nproc)


@dataclass
class _Job:
    """What one torchrun job left: its own outcome (status, error, telemetry, output), rank 0's
    results per item index, per-item errors raised by ranks here, and the global ranks that ran here."""

    outcome: Outcome
    results: dict[int, Any]
    errors: dict[int, dict[str, str]]
    ranks: set[int]

    def records_here(self, nnodes: int) -> bool:
        """The node running global rank 0 records the job (ok or failed). So does a node where no
        rank ever started (it could not join: only it can tell)."""
        return nnodes == 1 or 0 in self.ranks or not self.ranks


def _read_json_files(out_dir: Path, prefix: str) -> dict[int, Any]:
    """{item index: content} of ``<prefix><index>[-<rank>].json``; the lowest rank wins."""
    found: dict[int, Any] = {}
    for path in sorted(out_dir.glob(f"{prefix}*.json"), reverse=True):
        found[int(path.stem.removeprefix(prefix).split("-")[0])] = json.loads(path.read_text())
    return found


def rank_gpu_uuids(items: Sequence[PlannedBenchmark], opts: LaunchOptions) -> list[str]:
    """UUIDs of the GPUs this node's ranks use (local rank i runs on cuda:i), for NVML telemetry;
    empty for CPU ranks or when this node has fewer GPUs than ranks."""
    if not items or cuda_index(items[0].spec.device) is None:
        return []
    devices = [d.model_dump() for d in torch_cuda_devices()]
    return cuda_uuids(devices, list(range(opts.nproc)))


def _torchrun(items: Sequence[PlannedBenchmark], opts: LaunchOptions, tmp: Path) -> _Job:
    """One torchrun job running ``items`` in order on this node."""
    threads = threads_per_rank(opts)
    job, out_dir = tmp / "job.json", tmp / "out"
    out_dir.mkdir()
    job.write_text(json.dumps({
        "items": [{"spec": it.spec.model_dump(mode="json"), "params": it.params,
                   "worker": kind_info(it.spec.kind).worker} for it in items],
        "threads": threads, "timeout_s": max(it.spec.timeout_s for it in items), "nnodes": opts.nnodes,
    }))
    limit_s = sum(it.spec.timeout_s for it in items) + STARTUP_ALLOWANCE_S
    timed_out = False
    proc = subprocess.Popen(
        torchrun_argv(opts, job, out_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=os.environ | {"OMP_NUM_THREADS": str(threads)},
    )
    with sample_telemetry(pid=proc.pid, gpu_uuids=rank_gpu_uuids(items, opts)) as telemetry:
        try:
            output, _ = proc.communicate(timeout=limit_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_tree(proc)
            output, _ = proc.communicate()
    tail = output.decode(errors="replace")[-OUTPUT_TAIL_CHARS:]
    if timed_out:
        outcome = Outcome(Status.timeout, f"timed out after {limit_s:g} s (torchrun and its workers killed)")
    elif proc.returncode != 0:
        outcome = Outcome(Status.failed, f"torchrun exited with code {proc.returncode}: {_last_line(tail)}")
    else:
        outcome = Outcome(Status.ok)
    outcome.telemetry = dict(telemetry) | {"torchrun_job_benchmarks": float(len(items))}
    outcome.output_tail = tail
    ranks = {int(p.name.removeprefix(RANK_PREFIX)) for p in out_dir.glob(f"{RANK_PREFIX}*")}
    return _Job(
        outcome, _read_json_files(out_dir, RESULT_PREFIX), _read_json_files(out_dir, ERROR_PREFIX), ranks
    )


def _failure(job: _Job, index: int) -> Outcome:
    """Why item ``index`` of ``job`` has no result: a rank's own error, else the job's."""
    err = job.errors.get(index)
    if err is not None:
        status, error = Status(err["status"]), err["error"]
    elif job.outcome.status is not Status.ok:
        status, error = job.outcome.status, job.outcome.error
    else:
        status, error = Status.failed, "rank 0 wrote no result"
    return Outcome(status, error, telemetry=job.outcome.telemetry, output_tail=job.outcome.output_tail)


def run_distributed(items: Sequence[PlannedBenchmark], opts: LaunchOptions) -> list[Outcome | None]:
    """Run benchmarks under torchrun on this node, all in one job so start-up and rendezvous are paid
    once. Per item: its Outcome, or None when rank 0 ran on another node (which records it).

    When a benchmark fails, torchrun stops every rank. On one node it is recorded and a new job runs
    the benchmarks after it; across nodes the rest are recorded as not run (the nodes cannot be sure
    to agree on where to resume)."""
    outcomes: list[Outcome | None] = []
    while len(outcomes) < len(items):
        with tempfile.TemporaryDirectory(prefix="capplan-dist-") as tmp:
            job = _torchrun(items[len(outcomes):], opts, Path(tmp))
        if not job.records_here(opts.nnodes):
            outcomes += [None] * (len(items) - len(outcomes))
            break
        for i in range(len(items) - len(outcomes)):
            if i in job.results:
                outcomes.append(Outcome(Status.ok, result=job.results[i], telemetry=job.outcome.telemetry,
                                        output_tail=job.outcome.output_tail))
            else:
                failed = items[len(outcomes)].spec.name
                outcomes.append(_failure(job, i))
                if opts.nnodes > 1:
                    not_run = Outcome(
                        Status.failed, f"not run: {failed} failed earlier in the same multi-node job"
                    )
                    outcomes += [not_run] * (len(items) - len(outcomes))
                break
    return outcomes


def launch_config(spec: BenchmarkSpec, params: dict[str, Any], opts: LaunchOptions) -> dict[str, Any]:
    """The requested config (the resume/comparison key) including where the ranks ran."""
    return request_config(spec, params, threads_per_rank(opts)) | {
        "launch": {"nproc_per_node": opts.nproc, "nnodes": opts.nnodes, "world_size": opts.world_size},
    }


def launch_benchmarks(
    planned: Sequence[PlannedBenchmark], store: Store, opts: LaunchOptions, *, suite: str | None
) -> list[RunRecord | None]:
    """Run distributed benchmarks under torchrun and store the records of those whose rank 0 ran
    here. Aligned with ``planned``; None where rank 0 ran on another node (that node stores it)."""
    busy_pct = host_busy_pct(LOAD_WINDOW_S)  # as the runner does: flag records measured on a busy host
    with ThreadPoolExecutor(1) as pool:
        env_future = pool.submit(RunEnvironment.collect)  # seconds of inventory, while torchrun starts
        outcomes = run_distributed(planned, opts)
        env = env_future.result()
    records: list[RunRecord | None] = []
    for item, outcome in zip(planned, outcomes, strict=True):
        record = None
        if outcome is not None:
            outcome.telemetry = outcome.telemetry | {"host_busy_pct_before": busy_pct,
                                                     "contended": float(busy_pct > CONTENDED_BUSY_PCT)}
            record = _record(item, outcome, opts, env, suite)
            store.add(record)
        records.append(record)
    return records


def _record(
    item: PlannedBenchmark, outcome: Outcome, opts: LaunchOptions, env: RunEnvironment, suite: str | None
) -> RunRecord:
    """The RunRecord of one item; times are the worker's own when it finished, else now."""
    span = (outcome.result or {}).pop("span_utc", None) or {}
    now = datetime.now(UTC)
    started = datetime.fromisoformat(span["started_utc"]) if "started_utc" in span else now
    record = build_record(
        item.spec, launch_config(item.spec, item.params, opts), outcome, env, suite=suite, started=started
    )
    return record.model_copy(
        update={"ended_utc": datetime.fromisoformat(span.get("ended_utc", now.isoformat()))}
    )
