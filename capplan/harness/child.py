"""Code that runs inside a benchmark's subprocess: limits, seeding, the kind itself, the reply.

The parent (capplan.harness.runner) starts ``child_main`` from a forkserver that has torch
preloaded; the reply goes back as JSON bytes over a pipe (no pickle of results).
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import select
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from capplan.hardware import placement
from capplan.harness.device import cuda_index, process_peak_memory_bytes
from capplan.harness.metrics import flag_noise
from capplan.harness.reaper import kill_tagged, tag_environment
from capplan.harness.registry import resolve_kind
from capplan.harness.spec import BenchmarkInfeasible, BenchmarkSkipped, BenchmarkSpec, KindResult, RunContext
from capplan.results.schema import Status

_OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "std::bad_alloc")
# CUDA reserves a large virtual address range when it initialises (unified addressing), so an
# address-space cap (RLIMIT_AS) makes CUDA fail to start. On a CUDA device the memory cap is on the
# resident set instead: a watchdog thread reads VmRSS this often and kills the process group above it.
RSS_CHECK_S = 0.05
# Before a benchmark starts, wait this long at most for the reference vCPU placement
# (capplan.hardware.placement); a session's first benchmark takes several spaced probes to find it.
SETTLE_AT_START_S = 2.0
FIRST_REFERENCE_PROBES = 10


def child_main(
    spec_json: str,
    result_conn: Connection,
    output_conn: Connection,
    threads: int,
    runner_pid: int,
    cookie: str,
    placement_ref_us: float | None = None,
) -> None:
    """Entry point of the benchmark subprocess."""
    os.setpgid(0, 0)  # own process group: the parent kills it (and any ranks it spawns) at once
    tag_environment(cookie)  # and programs that leave the group (setsid) still carry the run's cookie
    _die_with_runner(runner_pid, cookie)
    for fd in (1, 2):
        os.dup2(output_conn.fileno(), fd)  # stdout/stderr go to the parent's bounded tail reader
    output_conn.close()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    spec = BenchmarkSpec.model_validate_json(spec_json)
    placement.note(placement_ref_us)  # the session's best hand-off so far (capplan.hardware.placement)
    reply = run_spec(spec, threads)
    result_conn.send_bytes(json.dumps(reply).encode())
    result_conn.close()


def _die_with_runner(runner_pid: int, cookie: str) -> None:
    """Kill this process group, and the run's tagged processes, when the runner exits (even by kill -9):
    a watcher thread blocks on a pidfd of the runner. (The forkserver, our real parent, outlives the
    runner while we live.)"""
    try:
        pidfd = os.pidfd_open(runner_pid)
    except (OSError, AttributeError):  # not Linux >= 5.3: the runner's timeout still applies
        return

    def watch() -> None:
        select.select([pidfd], [], [])
        kill_tagged(cookie)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="capplan-runner-watch", daemon=True).start()


def _cap_address_space(headroom_mb: int) -> None:
    """RLIMIT_AS = current virtual size (interpreter + torch) + ``headroom_mb``."""
    with open("/proc/self/statm") as fh:
        vm_bytes = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm_bytes + headroom_mb * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(
        resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard)
    )


def _vm_rss_kb() -> int:
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmRSS:")).split()[1])


def _cap_resident_memory(headroom_mb: int) -> None:
    """Kill this process group (SIGKILL) once its resident set exceeds today's + ``headroom_mb``."""
    limit_kb = _vm_rss_kb() + headroom_mb * 1024

    def watch() -> None:
        while True:
            time.sleep(RSS_CHECK_S)
            rss_kb = _vm_rss_kb()
            if rss_kb > limit_kb:
                print(f"resident memory {rss_kb // 1024} MiB exceeded the cap of {limit_kb // 1024} MiB "
                      f"(memory_limit_mb {headroom_mb} above the baseline; RSS, since CUDA cannot run "
                      "under RLIMIT_AS)", file=sys.stderr, flush=True)
                if os.getpgrp() == os.getpid():  # a benchmark child leads its group: take its ranks too
                    os.killpg(0, signal.SIGKILL)
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="capplan-rss-cap", daemon=True).start()


def cap_memory(spec: BenchmarkSpec) -> None:
    """Apply ``spec.memory_limit_mb``: RLIMIT_AS on the CPU, a resident-set watchdog on CUDA."""
    if not spec.memory_limit_mb:
        return
    if cuda_index(spec.device) is None:
        _cap_address_space(spec.memory_limit_mb)
    else:
        _cap_resident_memory(spec.memory_limit_mb)


def _seed_and_threads(seed: int, threads: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


def check_requirements(spec: BenchmarkSpec) -> None:
    """Raise BenchmarkSkipped when a capability the spec needs is missing on this host."""
    import torch

    needs = set(spec.requires) | ({"cuda"} if spec.device.startswith("cuda") else set())
    if "multi_gpu" in needs and torch.cuda.device_count() < 2:
        raise BenchmarkSkipped("requires multi_gpu: fewer than 2 CUDA devices visible")
    if "cuda" in needs:
        if not torch.cuda.is_available():
            raise BenchmarkSkipped("requires cuda: no CUDA device visible to torch")
        index = cuda_index(spec.device) or 0
        if index >= torch.cuda.device_count():
            raise BenchmarkSkipped(
                f"device {spec.device}: only {torch.cuda.device_count()} CUDA devices visible"
            )
    if "nvml" in needs:
        from capplan.hardware.nvml import nvml_session

        with nvml_session() as nvml:
            if nvml is None:
                raise BenchmarkSkipped("requires nvml: NVML is not available")


def error_line(exc: BaseException) -> str:
    """The traceback's last line (type: message), with the innermost frame's location."""
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    frames = traceback.extract_tb(exc.__traceback__)
    where = (
        f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name})"
        if frames
        else ""
    )
    return last + where


def is_oom(exc: BaseException) -> bool:
    """MemoryError, torch's (CUDA) OutOfMemoryError, or an allocator failure message."""
    if isinstance(exc, MemoryError) or any(c.__name__ == "OutOfMemoryError" for c in type(exc).__mro__):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MARKERS)


def _device_peak_mb(device: str) -> float | None:
    """Peak CUDA memory of the whole benchmark (every segment a kind measured), MB."""
    peak = process_peak_memory_bytes(device)
    return peak / 1e6 if peak is not None else None


def _check_finite(result: KindResult) -> None:
    """Refuse NaN/inf samples: they cannot be stored as JSON numbers and mean a broken measurement."""
    for name, values in result.samples.items():
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"samples[{name!r}] holds a non-finite value")


def run_spec(spec: BenchmarkSpec, threads: int) -> dict[str, Any]:
    """Run one benchmark in this process and describe the outcome as a JSON-able dict."""
    try:
        cap_memory(spec)
        _seed_and_threads(spec.seed, threads)
        check_requirements(spec)
        settled_s, placed = placement.settle(
            SETTLE_AT_START_S, min_probes=1 if placement.reference_us() else FIRST_REFERENCE_PROBES
        ) if placement.applies_to(spec.device) else (0.0, True)
        kind = resolve_kind(spec.kind)
        params = kind.Params.model_validate(spec.params)
        result = kind.run(spec, params, RunContext(spec=spec))
        _check_finite(result)
        flag_noise(result, spec.budget.target_rel_ci)
    except BenchmarkSkipped as exc:
        return {"status": Status.skipped.value, "error": str(exc) or "skipped"}
    except BenchmarkInfeasible as exc:
        facts = exc.result.model_copy(update={"metrics": []}) if exc.result is not None else None
        return {"status": Status.infeasible.value, "error": str(exc),
                "result": facts.model_dump(mode="json") if facts is not None else None}
    except BaseException as exc:  # every failure of user/plugin code becomes a record, never a crash
        status = Status.oom if is_oom(exc) else Status.failed
        message = error_line(exc)
        del exc  # drop frames holding large tensors before doing anything else
        return {"status": status.value, "error": message}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "status": Status.ok.value,
        "result": result.model_dump(mode="json"),
        "child": {
            "max_rss_mb": usage.ru_maxrss * 1024 / 1e6,
            "peak_device_mem_mb": _device_peak_mb(spec.device),
            "placement_ref_us": placement.reference_us(),
            "placement_settle_s": settled_s,
            "placement_reached": float(placed),
        },
    }
