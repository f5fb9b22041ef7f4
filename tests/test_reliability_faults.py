"""Faulty benchmarks in one `capplan bench run` (real CLI, real subprocesses): a segfault, an exit
without a result, a SIGKILL, a non-result return value, a 50 MB stdout flood with invalid UTF-8, and
a grandchild that escapes into its own session. Each is stored with its status and the suite goes on.
(Raise, timeout, memory cap, abort and a 20 MB flood are covered in tests/test_harness_runner.py.)

The faulty kinds live in tests/test_reliability_kinds.py (a light module: each benchmark child imports it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml
from test_reliability_figures import FIGURES, assert_user_error, run_cli, subprocess_env

from capplan.results.schema import RunRecord, Source, Status
from capplan.results.store import Store

FAULTS = {  # name -> (kind, params, expected status, text expected in the error)
    "segfault": ("SegfaultKind", {}, Status.failed, "SIGSEGV"),
    "silent-exit": ("SilentExitKind", {}, Status.failed, "without a result"),
    "self-kill": ("SelfKillKind", {}, Status.failed, "SIGKILL"),
    "wrong-result": ("WrongResultKind", {}, Status.failed, ""),
    "flood-50mb": ("BinaryFloodKind", {}, Status.ok, None),
    "escape": ("EscapeKind", {"pid_file": "PID_FILE"}, Status.failed, "grandchild"),
}


def _capplan(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "capplan", *args], capture_output=True, env=subprocess_env(), timeout=400
    )


@pytest.fixture(scope="module")
def faulty_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.CompletedProcess[bytes], Path]]:
    """One `capplan bench run` of every fault in a row, then one ok benchmark."""
    tmp = tmp_path_factory.mktemp("faults")
    pid_file = tmp / "escaped.pid"
    entries = [{"name": name, "kind": f"test_reliability_kinds:{kind}",
                "params": {k: str(pid_file) if v == "PID_FILE" else v for k, v in params.items()}}
               for name, (kind, params, _, _) in FAULTS.items()]
    entries.append({"name": "last-ok", "kind": "harness_fixture_kinds:OkKind"})
    suite = tmp / "faults.yaml"
    suite.write_text(
        yaml.safe_dump({"suite": "faults", "defaults": {"timeout_s": 60}, "benchmarks": entries})
    )
    db = tmp / "runs.db"
    try:
        yield _capplan("bench", "run", "--suite", str(suite), "--store", str(db), "--json"), db
    finally:
        if pid_file.exists():  # reap the escaped grandchild (it belongs to this test)
            pid = int(pid_file.read_text())
            if psutil.pid_exists(pid):
                FIGURES["faults.escaped_grandchildren_alive_after_run"] += 1
                os.kill(pid, signal.SIGKILL)


def test_faulty_benchmarks_are_recorded_and_the_suite_goes_on(
        faulty_run: tuple[subprocess.CompletedProcess[bytes], Path]) -> None:
    proc, db = faulty_run
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    assert len(proc.stdout) < 1_000_000, "a child's flood reached the CLI's own output"
    rows = {r["benchmark"]: r for r in json.loads(proc.stdout)["runs"]}
    stored = {r.benchmark: r for r in Store(str(db), create=False).query()}
    for name, (_, _, status, needle) in FAULTS.items():
        record = stored[name]
        assert record.status == status and rows[name]["status"] == status.value, (name, record.error)
        if needle is not None:
            assert needle in (record.error or ""), (name, record.error)
    assert stored["last-ok"].status == Status.ok, "the suite did not go on to the end"
    FIGURES["faults.benchmark_faults_survived"] += len(FAULTS)


def test_records_carry_what_a_rerun_needs_and_rerun_reproduces(
    faulty_run: tuple[subprocess.CompletedProcess[bytes], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = faulty_run
    records = Store(str(db), create=False).query()
    for r in records:
        assert len(r.config_hash) == 16 and r.seed is not None and r.host_fingerprint and r.inventory
        assert r.software.get("python") and r.software.get("torch") and r.software.get("capplan")
        assert {"kind", "params", "budget", "seed", "device", "dtype"} <= set(r.config)
    old = next(r for r in records if r.benchmark == "last-ok")
    proc = _capplan("bench", "rerun", old.run_id[:10], "--store", str(db), "--json")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    report = json.loads(proc.stdout)
    new = Store(str(db), create=False).get(report["run_id"])
    assert report["rerun_of"] == old.run_id and new.run_id != old.run_id and new.status == Status.ok
    assert (new.config_hash, new.seed, new.config["params"], new.host_fingerprint) == (
        old.config_hash, old.seed, old.config["params"], old.host_fingerprint)
    assert [m.name for m in new.metrics] == [m.name for m in old.metrics]
    FIGURES["reproducibility.reruns_matching_config_hash"] += 1
    imported = RunRecord(run_id="ext-1", benchmark="x", kind="infer", source=Source.imported, origin="MLPerf")
    Store(str(db)).add(imported)
    for run_id, needle in (("ext-1", "imported"), ("nosuchrun", "no run")):
        code, out, err = run_cli(["bench", "rerun", run_id, "--store", str(db)], capsys)
        assert_user_error(code, out, err)
        assert needle in err
