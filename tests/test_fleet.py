"""Fleet runs on a real local Ray cluster: tasks run capplan's harness and write to the test PostgreSQL."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capplan.cli import main
from capplan.errors import UserError
from capplan.fleet.ray_fleet import FleetOptions, check_shared_store, select_nodes
from capplan.results.store import Store

# Ray comes with the dev extra; locally a missing Ray skips these tests, under CI=true it fails them.
ray = importlib.import_module("ray") if os.environ.get("CI") == "true" else pytest.importorskip("ray")

SUITE = """\
suite: fleet-test
defaults:
  device: cpu
  timeout_s: 60
  budget: {warmup_max_s: 0.1, min_iters: 3, min_time_s: 0.01, max_time_s: 0.1}
benchmarks:
  - {name: gemm-tiny, kind: gemm, params: {shapes: [[64, 64, 64]]}}
"""


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _gpu_node(address: str, gpus: float, accel: str | None) -> dict[str, Any]:
    resources = {"CPU": 32.0, "GPU": gpus} | ({f"accelerator_type:{accel}": 1.0} if accel else {})
    return {
        "NodeID": address,
        "NodeManagerAddress": address,
        "Alive": True,
        "Resources": resources,
        "Labels": {},
    }


def test_node_selection_by_gpu_type_and_count() -> None:
    nodes = [
        _gpu_node("10.0.0.3", 8, "H100"),
        _gpu_node("10.0.0.1", 8, "A100"),
        _gpu_node("10.0.0.2", 4, "H100"),
        {**_gpu_node("10.0.0.4", 8, "H100"), "Alive": False},
    ]
    pick = lambda **kw: [n.address for n in select_nodes(nodes, FleetOptions(suite="quick", **kw))]  # noqa: E731
    assert pick() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]  # every alive node, in address order
    assert pick(gpu_type="H100") == ["10.0.0.2", "10.0.0.3"]
    assert pick(gpu_type="H100", gpus_per_run=1, runs_per_node=8) == ["10.0.0.3"]  # 8 runs x 1 GPU
    assert pick(max_nodes=1) == ["10.0.0.1"]
    with pytest.raises(UserError, match="no alive Ray node has 1 CPU, 1 GPU of type B200"):
        pick(gpu_type="B200", gpus_per_run=1)


def test_sqlite_store_refused_for_several_nodes(tmp_path: Path, pg_url: str) -> None:
    with pytest.raises(UserError, match="SQLite file cannot be shared by 2 nodes"):
        check_shared_store(str(tmp_path / "r.db"), 2)
    check_shared_store(str(tmp_path / "r.db"), 1)
    check_shared_store(pg_url, 3)


@pytest.mark.parametrize(("args", "match"), [
    (["--address", "tcp://x"], "--address: 'tcp://x'; allowed: auto"),
    (["--device", "tpu"], "--device: String should match pattern"),
])
def test_bad_fleet_options_are_one_line_errors(
    args: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["fleet", "run", "--suite", "quick", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and match in err and len(err.strip().splitlines()) == 1


def test_fleet_run_on_local_ray_writes_to_shared_postgres(
    ray_cluster: Any, tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "fleet.yaml"
    suite.write_text(SUITE)
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "fleet",
                "run",
                "--suite",
                str(suite),
                "--address",
                "auto",
                "--store",
                pg_url,
                "--runs-per-node",
                "2",
                "--json",
            ]
        )
    out, err = capsys.readouterr()
    assert exc.value.code in (0, None), err
    password = pg_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in out + err
    report = json.loads(out)
    assert report["tasks"] == 2 and len(report["nodes"]) == 1 and report["errors"] == []
    assert "***" in report["store"]

    records = Store(pg_url, create=False).query()
    assert len(records) == 2 and all(r.status.value == "ok" for r in records)
    assert {r.tags["fleet_run"] for r in records} == {report["fleet_run"]}
    assert sorted(r.tags["fleet_slot"] for r in records) == ["0", "1"]
    fingerprints = {r.host_fingerprint for r in records}
    assert list(report["hosts"]) == list(fingerprints)  # grouped by host: one host here
    host = report["hosts"][records[0].host_fingerprint]
    assert sorted(run["run_id"] for run in host["runs"]) == sorted(r.run_id for r in records)


def test_fleet_driver_stops_on_sigterm_and_takes_its_local_ray_cluster_down(tmp_path: Path) -> None:
    """`capplan fleet run --address local` under a supervisor: SIGTERM ends it like Ctrl-C, so the Ray
    cluster it started (gcs_server, raylet, workers) and the running benchmark go down with it."""
    import signal
    import subprocess
    import sys
    import time

    import psutil
    from proctools import wait_gone

    pid_file = tmp_path / "bench.pid"
    suite = tmp_path / "slow.yaml"
    suite.write_text(
        "benchmarks:\n"
        f"  - {{name: slow, kind: 'harness_fixture_kinds:SleepKind', timeout_s: 300,\n"
        f"     params: {{seconds: 120, pid_file: '{pid_file}'}}}}\n"
    )
    tests_dir = str(Path(__file__).parent)
    path = os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")]))
    capplan = str(Path(sys.executable).parent / "capplan")
    proc = subprocess.Popen([capplan, "fleet", "run", "--address", "local", "--suite", str(suite),
                             "--store", str(tmp_path / "r.db")], env=dict(os.environ, PYTHONPATH=path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while not pid_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert pid_file.exists(), proc.stdout.read() if proc.poll() is not None else "benchmark never started"
        family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True)),
                  int(pid_file.read_text())]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) != 0  # stopped, not finished (Ray maps the exit to 1)
        left = wait_gone(family, 30)
        assert not left, [" ".join(psutil.Process(p).cmdline())[:120] for p in left if psutil.pid_exists(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
