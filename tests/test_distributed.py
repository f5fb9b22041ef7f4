"""Distributed benchmarks under torchrun: 2 CPU ranks over gloo on 2 local "nodes" (loopback rendezvous)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.errors import UserError
from capplan.harness.launch import (
    LaunchOptions,
    is_distributed,
    launch_benchmarks,
    launch_options,
    torchrun_argv,
)
from capplan.harness.suite import load_suite
from capplan.results.schema import RunRecord
from capplan.results.store import RunFilter, Store

SUITE = """\
suite: dist-test
defaults: {device: cpu, timeout_s: 120}
benchmarks:
  - name: allreduce
    kind: collective
    params: {ops: [all_reduce], sizes_bytes: [4096, 262144], warmup_iters: 2, iters: 5}
  - name: ddp-mlp
    kind: capplan.harness.kinds.ddp:DdpKind
    params: {model: mlp, size: tiny, batch_size: 16, warmup_steps: 2, steps: 5}
  - name: gemm-not-distributed
    kind: gemm
    params: {shapes: [[64, 64, 64]]}
  - name: allgather-fails  # valid for 1 rank; 4 bytes cannot be shared by the 2 ranks torchrun runs
    kind: collective
    params: {ops: [all_gather], sizes_bytes: [4], world_size: 1, warmup_iters: 1, iters: 1}
"""


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "dist.yaml"
    path.write_text(SUITE)
    return path


def _password(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"nproc": 1, "nnodes": 2}, "^--rdzv-endpoint: HOST:PORT of node 0 is required with --nnodes > 1$"),
        (
            {"nproc": 1, "nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h:1"},
            "^--node-rank: 2 must be below --nnodes 2$",
        ),
        ({"nproc": 1, "nnodes": 2, "rdzv_endpoint": "no-port"}, "^--rdzv-endpoint: "),
        ({"nproc": 0}, "^--nproc: "),
    ],
)
def test_bad_launch_options_name_the_option(values: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        launch_options(**values)


def test_torchrun_command_lines(tmp_path: Path) -> None:
    single = torchrun_argv(LaunchOptions(nproc=8), tmp_path / "job.json", tmp_path)
    multi = torchrun_argv(
        LaunchOptions(nproc=8, nnodes=2, node_rank=1, rdzv_endpoint="node0:29500"), tmp_path / "j", tmp_path
    )
    for argv in (single, multi):
        assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"]
        assert argv[argv.index("--nproc-per-node") + 1] == "8"
        assert argv[argv.index("-m", 3) + 1] == "capplan.harness.dist_worker"
    assert "--standalone" in single and "--rdzv-endpoint" not in single
    assert multi[multi.index("--rdzv-endpoint") + 1] == "node0:29500"
    assert multi[multi.index("--node-rank") + 1] == "1" and multi[multi.index("--nnodes") + 1] == "2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_nodes_of_one_gloo_rank_store_busbw_and_ddp_scaling(
    suite_file: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two local "nodes": node 0 through the documented CLI line, node 1 through the launcher API in a
    thread. Two torchrun invocations with --nnodes 2 meet at a c10d rendezvous on 127.0.0.1 and form
    one 2-process gloo group, which runs the all-reduce, the DDP benchmark and one that fails in one job."""
    endpoint = f"127.0.0.1:{_free_port()}"
    items = [p for p in load_suite(str(suite_file)).benchmarks if is_distributed(p.spec)]
    node1: list[RunRecord | None] = []
    opts1 = LaunchOptions(nproc=1, nnodes=2, node_rank=1, rdzv_endpoint=endpoint)
    thread = threading.Thread(
        target=lambda: node1.extend(launch_benchmarks(items, Store(pg_url), opts1, suite="dist-test"))
    )
    thread.start()
    with pytest.raises(SystemExit) as exc:
        main(["bench", "run", "--suite", str(suite_file), "--nproc", "1", "--nnodes", "2", "--node-rank", "0",
              "--rdzv-endpoint", endpoint, "--store", pg_url, "--json"])
    thread.join(timeout=300)
    out, err = capsys.readouterr()
    assert exc.value.code in (0, None), err
    assert _password(pg_url) not in out + err
    report = json.loads(out)
    assert report["not_distributed"] == ["gemm-not-distributed"]  # named, not run
    node0 = [r["status"] for r in report["runs"]]
    rank0_on_node0 = node0[0] == "ok"
    # rank 0 lives on one node for the whole job; that node records everything, failures included
    assert node0 == (expected_statuses(2) if rank0_on_node0 else ["remote"] * 3), report
    assert len(node1) == 3
    assert [rec and rec.status.value for rec in node1] == (
        [None] * 3 if rank0_on_node0 else expected_statuses(2)
    )

    store = Store(pg_url, create=False)
    assert store.count() == 3  # stored once, by the node holding rank 0
    failed = store.query(RunFilter(status="failed"))[0]
    assert failed.benchmark == "allgather-fails" and not failed.metrics
    assert (
        "sizes_bytes: 4 is not a positive multiple of 4 * world_size = 8 (torchrun group of 2)"
        in failed.error
    )
    coll = store.query(RunFilter(benchmark="allreduce"))[0]
    ddp = store.query(RunFilter(benchmark="ddp-mlp"))[0]
    for rec in (coll, ddp):
        assert rec.config["launch"] == {"nproc_per_node": 1, "nnodes": 2, "world_size": 2}
        facts = rec.config["facts"]
        assert (facts["process_group"], facts["world_size"], facts["nnodes"]) == ("gloo", 2, 2)
        assert rec.host_fingerprint and rec.started_utc <= rec.ended_utc
    for size in ("4kib", "256kib"):
        busbw, algbw = (
            coll.metric(f"all_reduce_busbw_gbps_{size}"),
            coll.metric(f"all_reduce_algbw_gbps_{size}"),
        )
        assert busbw.unit == algbw.unit == "GB/s" and busbw.value > 0
        # nccl-tests: all_reduce busbw = algbw * 2(n-1)/n, which is 1 for n = 2
        assert coll.samples[busbw.name] == pytest.approx(coll.samples[algbw.name])
        assert len(coll.samples[busbw.name]) == 5

    eff = ddp.metric("ddp_scaling_efficiency_pct")
    thr_n, thr_1 = ddp.metric("ddp_throughput_samples_per_s"), ddp.metric("single_throughput_samples_per_s")
    step = ddp.metric("ddp_step_ms")
    assert ddp.metrics[0].name == eff.name and eff.unit == "%" and eff.value > 0
    # efficiency = throughput at N / (N x throughput at 1); an odd step count makes medians exact
    assert eff.value == pytest.approx(100 * thr_n.value / (2 * thr_1.value), rel=1e-9)
    assert thr_n.value * step.value / 1e3 == pytest.approx(2 * 16, rel=1e-9)  # global batch per step
    assert len(ddp.samples["ddp_step_ms"]) == 5 and not step.higher_is_better


def expected_statuses(world: int) -> list[str]:
    """Statuses of SUITE's three distributed entries, in order, at ``world`` ranks: allgather-fails
    fails only when its 4 bytes cannot be split between ranks (world > 1)."""
    return ["ok", "ok", "failed" if world > 1 else "ok"]


def run_nproc(
    suite_file: Path, store: Path, nproc: int, device: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`capplan bench run --nproc N` on one node, checked against ``expected_statuses``."""
    with pytest.raises(SystemExit) as exc:
        main(["bench", "run", "--suite", str(suite_file), "--nproc", str(nproc), "--device", device,
              "--store", str(store), "--json"])
    out, err = capsys.readouterr()
    assert exc.value.code in (0, None), err
    report = json.loads(out)
    assert [r["status"] for r in report["runs"]] == expected_statuses(nproc), report
    assert report["not_distributed"] == ["gemm-not-distributed"]
    group = "nccl" if device.startswith("cuda") else "gloo"
    for rec in Store(str(store), create=False).query(RunFilter(status="ok")):
        assert rec.config["facts"]["process_group"] == group and rec.config["launch"]["world_size"] == nproc
    ddp = Store(str(store), create=False).query(RunFilter(benchmark="ddp-mlp"))[0]
    assert ddp.metric("ddp_scaling_efficiency_pct").value > 0


def test_one_rank_job_runs_every_distributed_benchmark(
    suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The single-GPU case of the NCCL test below, on one gloo rank: the 4-byte all-gather is valid
    for a group of one, so all three distributed entries are ok."""
    run_nproc(suite_file, tmp_path / "cpu.db", 1, "cpu", capsys)


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU (NCCL)")
def test_nccl_ranks_one_per_gpu(suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    run_nproc(suite_file, tmp_path / "gpu.db", torch.cuda.device_count(), "cuda", capsys)
    ok = Store(str(tmp_path / "gpu.db"), create=False).query(RunFilter(status="ok"))
    assert all(rec.telemetry.get("gpu_count") == torch.cuda.device_count() for rec in ok)  # NVML, every rank
