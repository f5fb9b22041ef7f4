"""Micro-benchmark kinds: formulas, byte/FLOP counting, dtype rules, and short real runs on CPU."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist

from capplan.hardware import placement
from capplan.harness.kinds.collective import CollectiveKind, bus_factor, free_port, run_collective, size_label
from capplan.harness.kinds.copy import CopyKind, CopyParams
from capplan.harness.kinds.dispatch import DispatchKind, DispatchParams
from capplan.harness.kinds.gemm import GemmKind, GemmParams
from capplan.harness.kinds.membw import ARRAYS_TOUCHED, MembwKind, MembwParams, _kernels, cpu_llc_bytes
from capplan.harness.spec import BenchmarkSkipped, BenchmarkSpec, Budget, RunContext

TINY = Budget(
    warmup_min_iters=1, warmup_max_s=0.05, min_iters=3, max_iters=20, min_time_s=0.0, max_time_s=0.2
)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def spec(kind: str, **kw: object) -> BenchmarkSpec:
    return BenchmarkSpec(name="t", kind=kind, budget=TINY, **kw)  # type: ignore[arg-type]


def run(kind: object, s: BenchmarkSpec, params: object):  # type: ignore[no-untyped-def]
    return kind.run(s, params, RunContext(spec=s))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("op", "n", "factor"),
    [
        ("all_reduce", 2, 1.0),
        ("all_reduce", 8, 1.75),
        ("all_gather", 4, 0.75),
        ("reduce_scatter", 8, 0.875),
        ("broadcast", 8, 1.0),
    ],
)
def test_bus_bandwidth_factors_are_nccl_tests(op: str, n: int, factor: float) -> None:
    assert bus_factor(op, n) == pytest.approx(factor)


def test_size_labels() -> None:
    assert [size_label(x) for x in (100, 4096, 2**20 * 16, 2**30)] == ["100b", "4kib", "16mib", "1gib"]


def test_run_collective_under_an_initialised_group() -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        out = run_collective("all_reduce", [1024, 8192], 1, 0, warmup_iters=1, iters=4)
        assert sorted(out) == [1024, 8192] and all(len(v) == 4 and min(v) > 0 for v in out.values())
        with pytest.raises(ValueError, match="rank 0 of 1, not 1 of 2"):
            run_collective("all_reduce", [1024], 2, 1)
    finally:
        dist.destroy_process_group()
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))  # the port handed out is bindable


def test_stream_kernels_compute_streams_formulas() -> None:
    a, b, c = (
        torch.full((8,), 1.0, dtype=torch.float64),
        torch.full((8,), 2.0, dtype=torch.float64),
        torch.zeros(8, dtype=torch.float64),
    )
    k = _kernels(torch, a, b, c)
    k["copy"]()  # c = a
    assert torch.equal(c, a)
    k["scale"]()  # b = 3c
    assert torch.all(b == 3.0)
    k["add"]()  # c = a + b
    assert torch.all(c == 4.0)
    k["triad"]()  # a = b + 3c
    assert torch.all(a == 15.0)
    assert ARRAYS_TOUCHED == {"copy": 2, "scale": 2, "add": 3, "triad": 3}


def test_membw_counts_stream_bytes() -> None:
    res = run(MembwKind(), spec("membw", dtype="fp64"), MembwParams(ops=["triad", "copy"], array_mib=4))
    n = 4 * 2**20 // 8
    assert res.config["elements"] == n and res.config["arrays_ge_4x_llc"] is False
    names = [m.name for m in res.metrics]
    assert names == ["triad_gbps", "triad_best_gbps", "copy_gbps", "copy_best_gbps"]
    triad, best = res.metrics[0], res.metrics[1]
    assert best.value >= triad.value > 0 and best.value == pytest.approx(max(res.samples["triad_gbps"]))
    assert cpu_llc_bytes() is None or cpu_llc_bytes() > 0


def test_gemm_reports_tflops_from_2mnk() -> None:
    res = run(GemmKind(), spec("gemm", dtype="fp32"), GemmParams(shapes=[(64, 32, 16), (8, 8, 8)]))
    assert [m.name for m in res.metrics] == ["tflops_64x32x16", "tflops_8x8x8"]
    assert res.config["flops_per_call"]["64x32x16"] == 2 * 64 * 32 * 16
    assert all(
        m.unit == "TFLOP/s" and m.value > 0 and m.peak is None for m in res.metrics
    )  # no invented CPU peak


@pytest.mark.parametrize("dtype", ["fp16", "tf32", "fp8", "int8"])
def test_gemm_skips_dtypes_not_measured_on_cpu(dtype: str) -> None:
    with pytest.raises(BenchmarkSkipped, match=f"dtype {dtype}"):
        run(GemmKind(), spec("gemm", dtype=dtype), GemmParams())


def test_dispatch_latency_in_microseconds() -> None:
    res = run(DispatchKind(), spec("dispatch"), DispatchParams(ops=["add", "matmul"]))
    assert [m.name for m in res.metrics] == ["add_latency_us", "matmul_latency_us"]
    assert all(m.unit == "µs" and not m.higher_is_better and m.value > 0 for m in res.metrics)


def test_copy_is_skipped_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present: covered by the gpu test")
    with pytest.raises(BenchmarkSkipped, match="needs a CUDA device"):
        run(CopyKind(), spec("copy"), CopyParams())


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])  # `--device cuda` failed before its first kernel
def test_gpu_micro_kinds(device: str) -> None:
    res = run(CopyKind(), spec("copy", device=device), CopyParams(sizes_mib=[1], directions=["h2d", "d2d"]))
    assert {m.name for m in res.metrics} == {
        "h2d_pinned_1mib_gbps",
        "h2d_pageable_1mib_gbps",
        "d2d_1mib_gbps",
    }
    for dtype in ("fp32", "tf32", "bf16", "fp16", "int8", "fp8"):
        shapes = GemmParams(shapes=[(1024, 1024, 1024)])
        try:
            g = run(GemmKind(), spec("gemm", device=device, dtype=dtype), shapes)
        except BenchmarkSkipped:  # fp8 before compute capability 8.9, bf16 before Ampere
            assert dtype in ("fp8", "bf16")
            continue
        assert g.metrics[0].value > 0 and g.metrics[0].unit == ("TOP/s" if dtype == "int8" else "TFLOP/s")
    m = run(MembwKind(), spec("membw", device=device, dtype="fp32"), MembwParams(ops=["triad"]))
    assert m.config["arrays_ge_4x_llc"] and m.metrics[0].value > 0
    d = run(DispatchKind(), spec("dispatch", device=device), DispatchParams(ops=["add"]))
    assert d.metrics[0].value > 0


def test_collective_repeats_a_run_that_ended_with_the_vcpus_apart_on_a_fresh_rendezvous(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement, "RERUN_SETTLE_S", 0.05)
    spec = BenchmarkSpec(name="ar", kind="collective", params={
        "ops": ["all_reduce"], "sizes_bytes": [4096], "world_size": 2, "warmup_iters": 1, "iters": 5})
    kind = CollectiveKind()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        placement.reset(1e-3)  # no real hand-off is that fast: every run ends "apart"
        result = kind.run(spec, kind.Params.model_validate(spec.params), RunContext(spec=spec))
        assert result.config["placement_reruns"] == placement.RERUNS
        assert not result.config["placement_reference"]
        busbw = result.metrics[0]
        assert busbw.stats["shifted_kept"] == busbw.stats["n"] == 5  # counted, so the child flags it noisy
        placement.reset()
        again = kind.run(spec, kind.Params.model_validate(spec.params), RunContext(spec=spec))
        assert 0 <= again.config["placement_reruns"] <= placement.RERUNS
    finally:
        placement.reset()
        torch.set_num_threads(threads)
