"""Training kind: throughput, MFU against a measured peak, peak memory, accumulation, max-batch search."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from capplan.harness.kinds.train import OutOfMemory, TrainKind, search_max_batch
from capplan.harness.spec import BenchmarkInfeasible, BenchmarkSpec, Budget, RunContext

FAST = Budget(
    warmup_min_iters=1, warmup_max_s=0.2, min_iters=5, max_iters=200, min_time_s=0.05, max_time_s=0.3
)


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPPLAN_CACHE_DIR", str(tmp_path))  # FLOP-count cache of this test only


def _run(params: dict, **kw):
    spec = BenchmarkSpec(name="t-train", kind="train", params=params, budget=FAST, **kw)
    kind = TrainKind()
    return kind.run(spec, kind.Params.model_validate(spec.params), RunContext(spec=spec, log=lambda _: None))


def _metric(result, name: str):
    return next(m for m in result.metrics if m.name == name)


def test_train_step_metrics_with_grad_accumulation() -> None:
    result = _run({"model": "bert", "batches": [4], "grad_accum": 2})
    steps_ms = np.asarray(result.samples["step_time_ms_b4"])
    thr = _metric(result, "throughput_samples_per_s")
    assert thr.value == pytest.approx(np.median(8e3 / steps_ms), rel=1e-9)  # 4 samples x 2 micro-batches
    tokens = _metric(result, "throughput_tokens_per_s")
    assert tokens.value == pytest.approx(thr.value * result.config["seq_len"], rel=1e-9)
    achieved = _metric(result, "achieved_tflops")
    assert achieved.value == pytest.approx(
        thr.value * result.config["train_flops_per_sample"] / 1e12, rel=1e-9
    )
    mfu = _metric(result, "mfu_pct")
    assert mfu.peak_source.startswith("measured: best of") and "fp32" in mfu.peak_source
    assert mfu.value == pytest.approx(100 * achieved.value / result.config["mfu_peak_tflops"], rel=1e-9)
    assert 0 < mfu.value < 100
    assert _metric(result, "peak_mem_mb").value > 0
    assert result.config["grad_accum"] == 2 and result.config["best_batch"] == 4


def test_train_bf16_autocast_and_batch_search_on_cpu() -> None:
    result = _run(
        {"model": "mlp", "batches": [8], "find_max_batch": True, "max_batch": 64, "memory_limit_mb": 4096},
        dtype="bf16",
    )
    assert "bf16" in _metric(result, "mfu_pct").peak_source
    assert _metric(result, "max_batch_fits").value == 64  # tiny MLP: the cap, not memory, ends the search
    assert set(result.config["max_batch_tried_peak_mb"]) == {"8", "16", "32", "64"}


def test_batch_search_with_nothing_under_the_limit_is_infeasible() -> None:
    # a BERT training step at batch 8 peaks well above 0.001 MB: no batch can fit, and no "0" is stored
    match = r"no batch fits under the memory limit of 0.001 MB: batch 8 peaked at [0-9.e+]+ MB; raise"
    with pytest.raises(BenchmarkInfeasible, match=match) as exc:
        _run({"model": "bert", "batches": [8], "find_max_batch": True, "memory_limit_mb": 0.001})
    facts = exc.value.result
    assert facts is not None and facts.config["max_batch_limit_mb"] == 0.001
    assert all(m.name != "max_batch_fits" for m in facts.metrics)


def test_train_rejects_fp16_on_cpu() -> None:
    with pytest.raises(ValueError, match="allowed: fp32, bf16"):
        _run({"model": "mlp"}, dtype="fp16")


def test_search_max_batch_stops_at_memory_limit_without_overshooting() -> None:
    tried: list[int] = []

    def peak(batch: int) -> float:  # 100 MB of weights + 10 MB per sample
        tried.append(batch)
        return 100.0 + 10.0 * batch

    fits, peaks = search_max_batch(peak, start=1, max_batch=4096, limit_mb=1000)
    assert fits == 64  # 740 MB; 128 would need 1380 MB
    assert 128 not in tried  # predicted from the 32 and 64 trials, never run
    assert peaks[64] == 740.0


def test_search_max_batch_oom_and_nothing_fits() -> None:
    def peak(batch: int) -> float:
        if batch >= 16:
            raise OutOfMemory("CUDA out of memory")
        return float(batch)

    assert search_max_batch(peak, start=2, max_batch=1024, limit_mb=1e9)[0] == 8
    assert search_max_batch(lambda b: 5000.0, start=2, max_batch=1024, limit_mb=100)[0] == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(("dtype", "backend"), [("bf16", "eager"), ("fp16", "eager"), ("bf16", "compile")])
def test_train_on_cuda_uses_catalog_peak(dtype: str, backend: str) -> None:
    result = _run({"model": "gpt", "batches": [4], "find_max_batch": True, "max_batch": 64}, device="cuda",
                  dtype=dtype, backend=backend)
    assert _metric(result, "peak_mem_mb").value > 0
    assert result.config["peak_mem_source"].startswith("torch.cuda")
    if result.config["mfu_peak_tflops"] is not None:
        assert _metric(result, "mfu_pct").peak_source.startswith("catalog:")
