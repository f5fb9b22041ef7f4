"""Runs benchmarks, each in its own subprocess, and stores one RunRecord per outcome at once.

Children come from a multiprocessing forkserver with torch preloaded, so a benchmark starts in
milliseconds instead of paying torch's import. A child gets its own process group (killed as a
whole on timeout), an optional address-space cap, fixed seeds and thread count; its stdout/stderr
go through a pipe of which only the tail is kept.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from typing import Any

import psutil

from capplan.errors import UserError
from capplan.hardware import placement
from capplan.hardware.inventory import cuda_uuids
from capplan.hardware.telemetry import CONTENDED_OTHERS_PCT, host_busy_pct, sample_telemetry
from capplan.harness.device import cuda_index
from capplan.harness.reaper import kill_tagged, new_cookie
from capplan.harness.registry import KindImportError, kind_info
from capplan.harness.spec import BenchmarkSpec
from capplan.results.schema import Metric, RunRecord, Status, config_hash
from capplan.results.store import Store

# Modules the forkserver imports once; every benchmark child inherits them already imported.
# torch._dynamo: optimizers and FLOP counting import it, 2-4 s per model benchmark otherwise.
PRELOAD = [
    "torch",
    "torch._dynamo",
    "numpy",
    "capplan.hardware.inventory",
    "capplan.harness.child",
    "capplan.results.stats",
    "capplan.harness.metrics",
    "capplan.harness.timing",
]
OUTPUT_TAIL_BYTES = 8192  # kept of a child's stdout+stderr; a flooding child cannot bloat the parent
EXIT_GRACE_S = 10.0  # after replying, a child gets this long to exit before it is killed
# The host busier than this before a benchmark (no benchmark of ours runs then) marks it contended.
CONTENDED_BUSY_PCT = CONTENDED_OTHERS_PCT
LOAD_WINDOW_S = 0.2  # how long host load is sampled before each benchmark
# A benchmark that had to keep rounds taken with the vCPUs apart (the host kept them apart longer than
# its waits) is run again from the start this often at most, if its run lasted at most
# PLACEMENT_RETRY_MAX_S (quick-suite scale; a longer one is kept, counted and flagged noisy).
PLACEMENT_RETRIES = 1
PLACEMENT_RETRY_MAX_S = 15.0


def torch_threads() -> int:
    """Intra-op threads for benchmarks: one per physical core we may run on (deterministic per host)."""
    allowed = len(os.sched_getaffinity(0))
    return max(1, min(psutil.cpu_count(logical=False) or allowed, allowed))


_CONTEXT: Any = None


def _context() -> Any:
    """The forkserver context (started once per parent process, with torch preloaded)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def warm_up_children() -> None:
    """Start the forkserver now so its torch import overlaps the parent's own set-up."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


class _TailReader(threading.Thread):
    """Drains a pipe until EOF, keeping only the last OUTPUT_TAIL_BYTES."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(name="capplan-child-output", daemon=True)
        self.conn = conn
        self.tail = bytearray()

    def run(self) -> None:
        fd = self.conn.fileno()
        while chunk := os.read(fd, 65536):
            self.tail += chunk
            del self.tail[:-OUTPUT_TAIL_BYTES]
        self.conn.close()

    def text(self) -> str:
        return bytes(self.tail).decode(errors="replace")


@dataclass
class Outcome:
    """What came back from one benchmark subprocess."""

    status: Status
    error: str | None = None
    result: dict[str, Any] | None = None
    child: dict[str, Any] = field(default_factory=dict)
    telemetry: dict[str, float | None] = field(default_factory=dict)
    output_tail: str = ""


def _kill_group(proc: Any) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.kill()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _death_outcome(spec: BenchmarkSpec, exitcode: int | None, tail: str) -> Outcome:
    """Outcome of a child that exited without a reply."""
    last = _last_line(tail)
    suffix = f": {last}" if last else ""
    if exitcode is not None and exitcode < 0:
        sig = signal.Signals(-exitcode)
        if sig == signal.SIGKILL and spec.memory_limit_mb:
            return Outcome(
                Status.oom, f"killed by SIGKILL under a {spec.memory_limit_mb} MiB memory cap{suffix}"
            )
        return Outcome(Status.failed, f"killed by signal {sig.name}{suffix}")
    return Outcome(Status.failed, f"exited with code {exitcode} without a result{suffix}")


def run_isolated(spec: BenchmarkSpec, threads: int, gpu_uuids: Sequence[str] = ()) -> Outcome:
    """Run ``spec`` in a fresh forkserver child and map whatever happens to an Outcome; ``gpu_uuids``
    are the GPUs whose NVML telemetry is sampled meanwhile (see ``spec_gpu_uuids``)."""
    from capplan.harness.child import child_main

    ctx = _context()
    res_r, res_w = ctx.Pipe(duplex=False)
    out_r, out_w = ctx.Pipe(duplex=False)
    cookie = new_cookie()
    proc = ctx.Process(
        target=child_main,
        args=(spec.model_dump_json(), res_w, out_w, threads, os.getpid(), cookie, placement.reference_us()),
        name=f"bench-{spec.name}",
    )
    proc.start()
    res_w.close()
    out_w.close()
    reader = _TailReader(out_r)
    reader.start()
    reply: dict[str, Any] | None = None
    timed_out = False
    try:
        with sample_telemetry(pid=proc.pid, gpu_uuids=gpu_uuids) as telemetry:
            deadline = time.monotonic() + spec.timeout_s
            while reply is None and not timed_out:
                remaining = deadline - time.monotonic()
                ready = wait([res_r, proc.sentinel], timeout=max(remaining, 0))
                if res_r in ready:
                    with contextlib.suppress(EOFError):
                        reply = json.loads(res_r.recv_bytes())
                    break
                if proc.sentinel in ready:
                    break
                timed_out = remaining <= 0
            if not timed_out:
                proc.join(timeout=EXIT_GRACE_S)
    finally:
        _kill_group(proc)  # also reaps ranks or helpers the benchmark left behind
        kill_tagged(cookie)  # and those that left its process group (setsid)
        proc.join()
        res_r.close()
        reader.join(timeout=2.0)
    tail = reader.text()
    if timed_out:
        outcome = Outcome(Status.timeout, f"timed out after {spec.timeout_s:g} s (process group killed)")
    elif reply is None:
        outcome = _death_outcome(spec, proc.exitcode, tail)
    else:
        outcome = Outcome(
            Status(reply["status"]), reply.get("error"), reply.get("result"), reply.get("child", {})
        )
        placement.note(outcome.child.get("placement_ref_us"))
    outcome.telemetry = dict(telemetry)
    outcome.output_tail = tail
    return outcome


def spec_gpu_uuids(
    spec: BenchmarkSpec, env: RunEnvironment, params: dict[str, Any] | None = None
) -> list[str]:
    """UUIDs of the GPUs a CUDA spec runs on, its CUDA ordinals looked up in the run's inventory: its
    own device, or for a distributed kind's local ranks (``world_size`` of them) GPUs 0..world_size-1.
    Empty off CUDA or when an ordinal is not visible (the child then records the benchmark as skipped)."""
    index = cuda_index(spec.device)
    if index is None:
        return []
    ordinals = [index]
    with contextlib.suppress(KindImportError, UserError):  # an unloadable kind fails in its child
        if kind_info(spec.kind).role == "distributed":
            ordinals = list(range(int((params or {}).get("world_size", 1))))
    return cuda_uuids(env.inventory.get("cuda_devices") or [], ordinals)


def request_config(spec: BenchmarkSpec, params: dict[str, Any], threads: int) -> dict[str, Any]:
    """What determines a measurement; its hash is the resume key."""
    return {
        "benchmark": spec.name,
        "kind": spec.kind,
        "device": spec.device,
        "dtype": spec.dtype,
        "backend": spec.backend,
        "params": params,
        "budget": spec.budget.model_dump(),
        "seed": spec.seed,
        "torch_threads": threads,
    }


def _inventory_child(conn: Connection) -> None:
    from capplan.hardware.inventory import collect_inventory

    conn.send_bytes(collect_inventory().model_dump_json().encode())
    conn.close()


@dataclass
class RunEnvironment:
    """Facts shared by every record of one run: inventory snapshot, software, host fingerprint."""

    inventory: dict[str, Any]
    software: dict[str, str]
    fingerprint: str

    @classmethod
    @functools.cache
    def collect(cls) -> RunEnvironment:
        """Collected once per process, in a forkserver child where torch is already imported."""
        from capplan.hardware.inventory import Inventory

        ctx = _context()
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_inventory_child, args=(send,), name="capplan-inventory")
        proc.start()
        send.close()
        try:
            inv = Inventory.model_validate_json(recv.recv_bytes())
        except EOFError as exc:
            raise RuntimeError(f"inventory subprocess died (exit code {proc.exitcode})") from exc
        finally:
            recv.close()
            proc.join()
        software = {k: v for k, v in inv.software.items() if v is not None}
        return cls(inventory=inv.model_dump(mode="json"), software=software, fingerprint=inv.fingerprint)


def build_record(
    spec: BenchmarkSpec,
    config: dict[str, Any],
    outcome: Outcome,
    env: RunEnvironment,
    *,
    suite: str | None,
    started: datetime,
) -> RunRecord:
    """The immutable record of one outcome (config_hash is of the requested config)."""
    metrics: list[Metric] = []
    samples: dict[str, list[float]] = {}
    status, error = outcome.status, outcome.error
    full_config = dict(config)
    with contextlib.suppress(KindImportError, UserError):  # a kind that cannot load is recorded unclassified
        full_config["kind_meta"] = kind_info(spec.kind).as_config()
    if outcome.result is not None:
        metrics = [Metric.model_validate(m) for m in outcome.result.get("metrics", [])]
        samples = outcome.result.get("samples", {})
        full_config["facts"] = outcome.result.get("config", {})
        if status == Status.ok and not metrics:
            status, error = Status.failed, "the benchmark returned no metrics"
    telemetry = dict(outcome.telemetry)
    telemetry.update({k: (float(v) if v is not None else None) for k, v in outcome.child.items()})
    return RunRecord(
        benchmark=spec.name,
        kind=spec.kind,
        suite=suite,
        config=full_config,
        config_hash=config_hash(config),
        host_fingerprint=env.fingerprint,
        inventory=env.inventory,
        software=env.software,
        started_utc=started,
        ended_utc=datetime.now(UTC),
        status=status,
        error=error,
        metrics=metrics,
        samples=samples,
        telemetry=telemetry,
        tags=spec.tags,
        seed=spec.seed,
    )


def _kept_apart(stats: Iterable[dict[str, float]]) -> bool:
    """Whether any of these metric stats kept rounds taken with the vCPUs apart
    (capplan.hardware.placement)."""
    return any(s.get("shifted_kept", 0) for s in stats)


def _outcome_kept_apart(outcome: Outcome) -> bool:
    ok = outcome.status is Status.ok and outcome.result
    return bool(ok) and _kept_apart((m.get("stats") or {}) for m in outcome.result.get("metrics", []))


def placement_summary(records: Sequence[RunRecord]) -> tuple[float, int]:
    """(seconds the runs waited for the reference vCPU placement, runs with rounds kept from another
    placement) over ``records`` (capplan.hardware.placement)."""
    waited_s = sum(r.telemetry.get("placement_settle_s") or 0.0 for r in records)
    kept = sum(1 for r in records if _kept_apart(m.stats for m in r.metrics))
    return waited_s, kept


@dataclass
class PlannedBenchmark:
    """A validated spec with its kind's resolved parameters (defaults filled in)."""

    spec: BenchmarkSpec
    params: dict[str, Any]


@dataclass
class RunEvent:
    """Progress callback payload: a benchmark started (record None) or ended."""

    spec: BenchmarkSpec
    record: RunRecord | None = None
    resumed: bool = False


def run_benchmarks(
    planned: Sequence[PlannedBenchmark],
    store: Store,
    *,
    suite: str | None,
    resume: bool = False,
    on_event: Callable[[RunEvent], None] | None = None,
    env: RunEnvironment | None = None,
) -> list[RunEvent]:
    """Run each benchmark in its own subprocess, storing every record as soon as it exists."""
    warm_up_children()
    env = env or RunEnvironment.collect()
    threads = torch_threads()
    notify = on_event or (lambda _e: None)
    done: list[RunEvent] = []
    for item in planned:
        spec = item.spec
        config = request_config(spec, item.params, threads)
        if resume and store.has_ok(config_hash(config), env.fingerprint):
            event = RunEvent(spec, resumed=True)
        else:
            notify(RunEvent(spec))
            busy_pct = host_busy_pct(LOAD_WINDOW_S)
            started = datetime.now(UTC)
            gpus = spec_gpu_uuids(spec, env, item.params)
            t0 = time.monotonic()
            outcome = run_isolated(spec, threads, gpus)
            retries = 0
            short = time.monotonic() - t0 <= PLACEMENT_RETRY_MAX_S
            while short and _outcome_kept_apart(outcome) and retries < PLACEMENT_RETRIES:  # measured again
                retries += 1
                started = datetime.now(UTC)
                outcome = run_isolated(spec, threads, gpus)
            outcome.telemetry["placement_retries"] = float(retries)
            outcome.telemetry["host_busy_pct_before"] = busy_pct
            outcome.telemetry["contended"] = float(busy_pct > CONTENDED_BUSY_PCT)
            record = build_record(spec, config, outcome, env, suite=suite, started=started)
            store.add(record)
            event = RunEvent(spec, record)
        done.append(event)
        notify(event)
    return done
