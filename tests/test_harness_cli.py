"""`capplan bench run` end to end: a quick-like suite stores ok records, --resume re-runs nothing,
Ctrl-C keeps what finished. The CLI runs in-process (real entry point) except where a signal must hit
a separate process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from harness_cli_helper import cli
from proctools import as_foreground_job

from capplan.results.schema import Status
from capplan.results.store import Store

CAPPLAN = str(Path(sys.executable).parent / "capplan")
BUDGET = {"warmup_max_s": 0.1, "min_iters": 5, "min_time_s": 0.0, "max_time_s": 0.3}
SUITE = {
    "suite": "mini",
    "defaults": {"timeout_s": 120, "budget": BUDGET},
    "benchmarks": [
        {"name": "gemm", "kind": "gemm", "params": {"shapes": [[256, 256, 256]]}},
        {"name": "membw", "kind": "membw", "dtype": "fp64", "params": {"ops": ["triad"], "array_mib": 16}},
        {"name": "dispatch", "kind": "dispatch"},
        {
            "name": "allreduce",
            "kind": "collective",
            "params": {
                "ops": ["all_reduce"],
                "sizes_bytes": [4096, 65536],
                "world_size": 2,
                "warmup_iters": 2,
                "iters": 5,
            },
        },
    ],
}


def capplan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_quick_like_run_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite, db = tmp_path / "mini.yaml", tmp_path / "runs.db"
    suite.write_text(yaml.safe_dump(SUITE))
    first = capplan_json(capsys, "bench", "run", "--suite", str(suite), "--store", str(db))
    assert [(r["benchmark"], r["status"]) for r in first["runs"]] == [
        ("gemm", "ok"), ("membw", "ok"), ("dispatch", "ok"), ("allreduce", "ok")
    ], first
    records = {r.benchmark: r for r in Store(str(db)).query()}
    assert all(r.status == Status.ok and r.suite == "mini" for r in records.values())
    allreduce = records["allreduce"]
    assert allreduce.config["facts"]["backend"] == "gloo" and allreduce.config["facts"]["world_size"] == 2
    busbw, algbw = (
        allreduce.metric("all_reduce_busbw_gbps_64kib"),
        allreduce.metric("all_reduce_algbw_gbps_64kib"),
    )
    assert busbw.value == algbw.value  # 2(n-1)/n = 1 for two ranks
    assert (
        records["gemm"].metric("tflops_256x256x256").value > 0
        and records["gemm"].samples["tflops_256x256x256"]
    )
    again = capplan_json(
        capsys,
        "bench",
        "run",
        "--suite",
        str(suite),
        "--store",
        str(db),
        "--resume",
        "--only",
        "gemm",
        "--only",
        "dispatch",
    )
    assert [(r["benchmark"], r["status"]) for r in again["runs"]] == [
        ("gemm", "resumed"),
        ("dispatch", "resumed"),
    ]
    assert Store(str(db)).count() == 4


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("setsid", [False, True], ids=["same-group", "setsid-helper"])
@pytest.mark.parametrize(
    ("sig", "exit_code"), [(signal.SIGINT, 130), (signal.SIGKILL, -signal.SIGKILL)], ids=["ctrl-c", "kill-9"]
)
def test_interrupt_keeps_finished_records_and_ends_the_running_benchmark(
    tmp_path: Path, sig: int, exit_code: int, setsid: bool
) -> None:
    pid_file, db, suite = tmp_path / "helper.pid", tmp_path / "runs.db", tmp_path / "s.yaml"
    fix = "harness_fixture_kinds"
    suite.write_text(yaml.safe_dump({"benchmarks": [
        {"name": "done", "kind": f"{fix}:OkKind"},
        {"name": "hangs", "kind": f"{fix}:SleepKind",
         "params": {"seconds": 120, "pid_file": str(pid_file), "setsid": setsid}},
    ]}))
    tests_dir = str(Path(__file__).parent)
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")]))
    }
    argv = as_foreground_job([CAPPLAN, "bench", "run", "--suite", str(suite), "--store", str(db)])
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert pid_file.exists(), proc.stderr.read() if proc.poll() is not None else "benchmark never started"
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == exit_code
    assert [(r.benchmark, r.status) for r in Store(str(db)).query()] == [("done", Status.ok)]
    helper = int(pid_file.read_text())
    deadline = time.monotonic() + 30  # the benchmark's process group is killed by the runner or its watcher
    while not _gone(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(helper)
