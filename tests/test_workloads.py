"""Workload definitions: shapes, seeding, published parameter counts, closed-form FLOPs, KV cache."""

from __future__ import annotations

import pytest
import torch

from capplan.workloads import MODELS, WorkloadParams, build_workload, torch_dtype
from capplan.workloads.flops import count_facts, forward_flops, workload_facts
from capplan.workloads.mlp import PRESETS as MLP_PRESETS
from capplan.workloads.transformer import KVCache


def _inputs(w, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return w.make_inputs(batch, g), w.make_targets(batch, g)


@pytest.mark.parametrize("model", MODELS)
def test_tiny_forward_and_loss_shapes(model: str) -> None:
    w = build_workload(WorkloadParams(model=model), seed=0)
    x, y = _inputs(w, 3)
    out = w.model(*x)
    assert out.shape[0] == 3
    loss = w.loss(out, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in w.model.parameters() if p.requires_grad and p.grad is not None)


def test_seed_fixes_weights() -> None:
    a = build_workload(WorkloadParams(model="bert"), seed=1).model.state_dict()
    b = build_workload(WorkloadParams(model="bert"), seed=1).model.state_dict()
    c = build_workload(WorkloadParams(model="bert"), seed=2).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize(
    ("model", "published"),
    [
        ("resnet", 25_557_032),  # ResNet-50 (torchvision resnet50, He et al. 2015)
        ("gpt", 124_439_808),  # GPT-2 small (Radford et al. 2019; Hugging Face gpt2, tied embeddings)
    ],
)
def test_base_sizes_match_published_parameter_counts(model: str, published: int) -> None:
    facts = count_facts(WorkloadParams(model=model, size="base"))
    assert facts["param_count"] == published
    assert facts["param_bytes"] == 4 * published


def test_resnet50_forward_flops_match_published_gmacs() -> None:
    # ResNet-50 at 224x224 is ~4.1 GMACs (He et al. 2015, Table 1: 3.8e9 FLOPs counted as mult-adds,
    # torchvision lists 4.09 GFLOPS = GMACs); the counter reports 2 FLOPs per MAC.
    facts = count_facts(WorkloadParams(model="resnet", size="base"))
    assert facts["flops_per_sample"] / 2 == pytest.approx(4.09e9, rel=0.01)


def test_mlp_flops_closed_form() -> None:
    in_f, hidden, classes = MLP_PRESETS["tiny"]
    dims = (in_f, *hidden, classes)
    fwd = sum(2 * a * b for a, b in zip(dims[:-1], dims[1:], strict=False))  # 2*m*n*k per sample
    facts = count_facts(WorkloadParams(model="mlp"))
    assert facts["flops_per_sample"] == fwd
    # backward: weight grads (2*fwd) minus the input gradient of the first layer (inputs need no grad)
    assert facts["train_flops_per_sample"] == 3 * fwd - 2 * dims[0] * dims[1]


@pytest.mark.parametrize(("model", "seq"), [("bert", 64), ("bert", 32), ("gpt", 48)])
def test_transformer_flops_closed_form(model: str, seq: int) -> None:
    w = build_workload(WorkloadParams(model=model, seq_len=seq), seed=0)
    s = w.shape
    d, f, layers, vocab = s["d_model"], s["d_ff"], s["layers"], s["vocab"]
    per_token_layer = 2 * (4 * d * d + 2 * d * f)  # QKV + output projections, two FFN matmuls
    attention = 2 * 2 * seq * seq * d  # QK^T and AV over the full S x S matrix, per layer
    total = layers * (seq * per_token_layer + attention)
    total += 2 * d * d + 2 * d * 2 if model == "bert" else 2 * seq * d * vocab  # pooler+classifier | LM head
    facts = count_facts(WorkloadParams(model=model, seq_len=seq))
    assert facts["flops_per_sample"] == total
    # real (CPU) execution counts the same as the meta-device count
    x, _ = _inputs(w, 2)
    assert forward_flops(w.model, x) == 2 * total


def test_activation_bytes_grow_with_sequence() -> None:
    short = count_facts(WorkloadParams(model="bert", seq_len=32))["activation_bytes_per_sample"]
    long = count_facts(WorkloadParams(model="bert", seq_len=128))["activation_bytes_per_sample"]
    assert 0 < short < long


def test_facts_cache_round_trip(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CAPPLAN_CACHE_DIR", str(tmp_path))
    params = WorkloadParams(model="mlp")
    first = workload_facts(params)
    (cached,) = tmp_path.glob("facts/*.json")
    assert workload_facts(params) == first == count_facts(params)
    cached.write_text("{not json")  # a damaged cache entry is recounted and rewritten
    assert workload_facts(params) == first
    assert workload_facts(WorkloadParams(model="mlp", size="base")) != first


def test_dlrm_interaction_width() -> None:
    w = build_workload(WorkloadParams(model="dlrm"), seed=0)
    vectors = w.shape["tables"] + 1
    first_top = w.model.top[0]
    assert first_top.in_features == w.shape["embedding_dim"] + vectors * (vectors - 1) // 2


def test_kv_cache_decode_matches_full_forward() -> None:
    w = build_workload(WorkloadParams(model="gpt", seq_len=12), seed=0)
    model = w.model.eval()
    (ids,), _ = _inputs(w, 2)
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(2, 12)
        prefill = model(ids[:, :8], cache)
        steps = [model(ids[:, i : i + 1], cache) for i in range(8, 12)]
    assert isinstance(cache, KVCache) and cache.length == 12
    torch.testing.assert_close(prefill, full[:, :8], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.cat(steps, dim=1), full[:, 8:], rtol=1e-4, atol=1e-5)
    # a chunk appended after the prefill (t > 1 with a filled cache) uses the explicit causal mask
    with torch.no_grad():
        cache = model.new_cache(2, 12)
        model(ids[:, :8], cache)
        chunk = model(ids[:, 8:], cache)
    torch.testing.assert_close(chunk, full[:, 8:], rtol=1e-4, atol=1e-5)


def test_bad_choices_are_value_errors() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        build_workload(WorkloadParams(model="bert", seq_len=10_000), seed=0)
    with pytest.raises(ValueError, match="allowed: fp32"):
        torch_dtype("int4")
    with pytest.raises(ValueError):
        WorkloadParams(model="alexnet")  # type: ignore[arg-type]
    model = build_workload(WorkloadParams(model="gpt", seq_len=8), seed=0).model
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 600, dtype=torch.long))
