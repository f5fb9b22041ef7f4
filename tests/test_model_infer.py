"""Inference kinds and backends: ORT export + cache, output checks before timing, SLO sweep, generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from capplan.harness.backends import get_backend
from capplan.harness.backends.base import OutputMismatchError, check_outputs
from capplan.harness.kinds.generate import GenerateKind, GenerateParams
from capplan.harness.kinds.infer import InferKind, InferParams, add_slo_metrics
from capplan.harness.kinds.model_common import load_backend, setup_model, verify_backend
from capplan.harness.spec import (
    BenchmarkInfeasible,
    BenchmarkSkipped,
    BenchmarkSpec,
    Budget,
    KindResult,
    RunContext,
)
from capplan.results.stats import Samples

FAST = Budget(
    warmup_min_iters=1, warmup_max_s=0.2, min_iters=5, max_iters=200, min_time_s=0.05, max_time_s=0.2
)
CONFIG_KEYS = {"model", "size", "backend", "dtype", "device", "seq_len", "flops_per_sample", "param_bytes",
               "param_count", "activation_bytes_per_sample", "batches", "best_batch"}


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.getbasetemp() / "capplan-cache"  # shared by this module's tests: exports reused
    monkeypatch.setenv("CAPPLAN_CACHE_DIR", str(path))
    return path


def _spec(kind: str, params: dict, **kw) -> BenchmarkSpec:
    return BenchmarkSpec(name=f"t-{kind}", kind=kind, params=params, budget=FAST, **kw)


def _run(kind, spec: BenchmarkSpec):
    return kind.run(spec, kind.Params.model_validate(spec.params), RunContext(spec=spec, log=lambda _: None))


def test_infer_eager_sweep_records_curve_and_config() -> None:
    result = _run(InferKind(), _spec("infer", {"model": "mlp", "batches": [1, 4]}))
    names = [m.name for m in result.metrics]
    assert names[0] == "throughput_samples_per_s"
    assert {
        "latency_p99_ms",
        "latency_p50_ms",
        "max_batch_under_slo",
        "peak_mem_mb",
        "achieved_tflops",
    } <= set(names)
    assert set(result.samples) == {"latency_ms_b1", "latency_ms_b4"}
    assert {"throughput_samples_per_s_b1", "throughput_samples_per_s_b4"} <= set(names)
    assert CONFIG_KEYS <= set(result.config)
    best = result.config["best_batch"]
    lat = np.asarray(result.samples[f"latency_ms_b{best}"])
    thr = next(m for m in result.metrics if m.name == "throughput_samples_per_s").value
    assert thr == pytest.approx(np.median(best * 1e3 / lat), rel=1e-9)  # samples/s = batch / latency
    p99 = next(m for m in result.metrics if m.name == "latency_p99_ms")
    assert p99.value == pytest.approx(np.percentile(lat, 99), rel=1e-9)
    # per-call timings (never round means), at least the 100 a p99 needs: the batch was topped up
    assert len(lat) >= 100 and p99.stats["calls_per_sample"] == 1 and "p99_ci_low" in p99.stats


def _slo(per_batch: dict[int, list[float]], slo_ms: float, config: dict | None = None) -> KindResult:
    result = KindResult(metrics=[], config=config or {})
    add_slo_metrics(result, {b: s if isinstance(s, Samples) else Samples(s) for b, s in per_batch.items()},
                    slo_ms)
    return result


def test_slo_selects_fastest_batch_within_bound() -> None:
    # seconds per call, 120 calls each; batch 32's p99 (one call in 100 at 0.26 s) misses a 200 ms SLO
    per_batch = {1: [0.010] * 120, 8: [0.040] * 120, 32: [0.150] * 118 + [0.26, 0.26]}
    result = _slo(per_batch, 200, {"seq_len": 16, "flops_per_sample": 1e9})
    metrics = {m.name: m for m in result.metrics}
    config = result.config
    assert config["best_batch"] == 8 and config["max_batch_under_slo"] == 8
    assert result.metrics[0].name == "throughput_samples_per_s"
    assert metrics["throughput_samples_per_s"].value == pytest.approx(200.0)  # 8 / 0.040 s
    assert metrics["throughput_tokens_per_s"].value == pytest.approx(3200.0)  # 200 x 16 tokens
    assert metrics["achieved_tflops"].value == pytest.approx(0.2)  # 200 x 1e9 FLOP
    # np.percentile of 118 x 0.150 and 2 x 0.26 at 99 %: rank 0.99 x 119 = 117.81 -> 0.150 + 0.81 x 0.11
    assert config["slo_verdicts"]["32"] == "batch 32: p99 239.1 ms > 200 ms (n=120)"


def test_no_batch_under_the_slo_is_infeasible_with_the_figures() -> None:
    per_batch = {1: [0.010] * 120, 8: [0.040] * 120}
    with pytest.raises(BenchmarkInfeasible) as exc:
        _slo(per_batch, 5)
    assert "no batch meets the p99 SLO of 5 ms: batch 1: median 10 ms > 5 ms (n=120)" in str(exc.value)
    assert exc.value.result is not None and not exc.value.result.metrics  # facts only, no headline
    # too few per-call samples for a p99 and none missing at the median: undetermined, not infeasible
    with pytest.raises(RuntimeError, match=r"undetermined: batch 1: not enough samples for p99 \(n=50"):
        _slo({1: [0.010] * 50}, 200)


def test_infeasible_slo_stops_after_the_smallest_batch() -> None:
    spec = _spec("infer", {"model": "mlp", "batches": [1, 4, 16], "slo_p99_ms": 1e-4})
    match = "no batch meets the p99 SLO of 0.0001 ms: batch 1: median"
    with pytest.raises(BenchmarkInfeasible, match=match) as exc:
        _run(InferKind(), spec)
    facts = exc.value.result
    assert facts is not None and set(facts.config["batches_not_timed"]) == {"4", "16"}
    assert list(facts.samples) == ["latency_ms_b1"]  # only batch 1 was timed


def test_onnxruntime_matches_eager_and_caches_export(_cache_dir: Path) -> None:
    spec = _spec("infer", {"model": "bert", "batches": [2]}, backend="onnxruntime")
    first = _run(InferKind(), spec)
    assert first.config["ort_providers"].endswith("CPUExecutionProvider")
    assert first.config["verify_max_abs_diff"] <= first.config["verify_atol"] + first.config["verify_rtol"]
    assert list(_cache_dir.glob("onnx/*/model.onnx"))
    second = _run(InferKind(), spec)
    assert second.config["onnx_export_cached"] is True


def test_backend_with_other_weights_fails_the_check() -> None:
    spec = _spec("infer", {"model": "mlp"}, backend="onnxruntime")
    params = InferParams.model_validate(spec.params)
    reference = setup_model(spec, params)
    other = setup_model(spec.model_copy(update={"seed": 7}), params)
    backend, _ = load_backend(other, spec)
    load_backend(reference, spec.model_copy(update={"backend": "eager"}))  # place the reference model too
    with pytest.raises(OutputMismatchError, match="differ from eager torch beyond rtol="):
        verify_backend(reference, backend, spec, None, None)


def test_check_outputs_tolerances_and_shapes() -> None:
    want = np.linspace(-1, 1, 10, dtype=np.float32)
    facts = check_outputs("x", want + 5e-5, want, "fp32")
    assert facts["verify_rtol"] == 1e-3 and facts["verify_max_abs_diff"] == pytest.approx(5e-5, rel=1e-2)
    with pytest.raises(OutputMismatchError, match="max \\|diff\\| = 0.01"):
        check_outputs("x", want + 0.01, want, "fp32")
    check_outputs("x", want + 0.01, want, "bf16")  # within bf16's stated tolerance
    with pytest.raises(OutputMismatchError, match="shape"):
        check_outputs("x", want[:5], want, "fp32")


def test_backend_errors_name_allowed_values() -> None:
    with pytest.raises(ValueError, match="allowed: eager, compile, onnxruntime"):
        get_backend("tensorrt-llm")
    spec = _spec("infer", {"model": "mlp"}, backend="onnxruntime", dtype="bf16")
    with pytest.raises(ValueError, match="dtype 'bf16'; allowed: fp32"):
        _run(InferKind(), spec)


def test_generate_reports_ttft_and_inter_token_latency() -> None:
    params = {"prompt_lens": [8, 16], "output_lens": [4], "min_generations": 2}
    result = _run(GenerateKind(), _spec("generate", params))
    names = [m.name for m in result.metrics]
    assert names[:4] == ["ttft_ms", "prefill_tokens_per_s", "itl_ms", "decode_tokens_per_s"]
    ttft = result.samples["ttft_ms_p8_o4"]
    assert len(result.samples["itl_ms_p8_o4"]) == 3 * len(ttft)  # output_len - 1 decode steps per generation
    prefill = next(m for m in result.metrics if m.name == "prefill_tokens_per_s_p16_o4")
    assert prefill.value == pytest.approx(
        np.median(16e3 / np.asarray(result.samples["ttft_ms_p16_o4"])), rel=1e-9
    )
    with pytest.raises(ValueError, match="context is 512"):
        GenerateParams.model_validate({"prompt_lens": [500], "output_lens": [20]})


gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize(("backend", "dtype"), [("eager", "fp16"), ("eager", "bf16"), ("onnxruntime", "fp16"),
                                                ("onnxruntime", "fp32"), ("compile", "bf16")])
def test_infer_on_cuda(backend: str, dtype: str) -> None:
    spec = _spec("infer", {"model": "bert", "batches": [1, 8]}, device="cuda:0", dtype=dtype, backend=backend)
    try:
        result = _run(InferKind(), spec)
    except BenchmarkSkipped as exc:  # e.g. the CPU onnxruntime wheel has no CUDA execution provider
        pytest.skip(str(exc))
    assert result.config["device"] == "cuda:0"
    assert next(m for m in result.metrics if m.name == "peak_mem_mb").value > 0
    if backend == "onnxruntime":
        assert "CUDAExecutionProvider" in result.config["ort_providers"]
        assert result.config["ort_cuda_tf32"] is False  # fp32 checked against true-fp32 eager


@pytest.mark.gpu
@gpu
def test_generate_on_cuda() -> None:
    result = _run(GenerateKind(), _spec("generate", {"prompt_lens": [32], "output_lens": [8]}, device="cuda",
                                        dtype="bf16"))
    assert result.metrics[0].name == "ttft_ms"


def test_host_dependent_slo_is_derived_from_the_smallest_batch_and_recorded() -> None:
    # 0.0001 ms alone is infeasible (previous test); with the rule the SLO becomes 1000 x batch 1's median
    # (far above any tail a tiny MLP shows, even on a busy host)
    spec = _spec("infer", {"model": "mlp", "batches": [1, 4], "slo_p99_ms": 1e-4, "slo_min_x_smallest": 1000})
    result = _run(InferKind(), spec)
    rule = result.config["slo_rule"]
    assert rule.startswith("max(slo_p99_ms 0.0001 ms, 1000 x batch 1 median ")
    assert float(rule.rsplit("= ", 1)[1].split()[0]) == pytest.approx(result.config["slo_p99_ms"], rel=1e-3)
    assert result.config["slo_p99_ms"] > 1e-4 and result.metrics[0].name == "throughput_samples_per_s"


def test_a_tail_from_host_contention_is_undetermined_not_infeasible() -> None:
    slow_tail = [0.010] * 98 + [0.5, 0.5]  # p99 ~0.5 s, far above a 100 ms SLO
    calm = Samples(slow_tail)
    with pytest.raises(BenchmarkInfeasible, match=r"batch 1: p99 [0-9.]+ ms > 100 ms \(n=100\)"):
        _slo({1: calm}, 100)
    slow = r"batch 1: median 500 ms > 100 ms \(n=5, 5 under host contention\); rerun on a quieter host"
    with pytest.raises(RuntimeError, match=slow):
        _slo({1: Samples([0.5] * 5, contended_kept=5)}, 100)
    busy = Samples(slow_tail, contended_kept=40)  # 40 calls were timed while others used the CPU
    match = r"undetermined: batch 1: p99 [0-9.]+ ms > 100 ms \(n=100, 40 under host contention\); rerun on a"
    with pytest.raises(RuntimeError, match=match):
        _slo({1: busy}, 100)
