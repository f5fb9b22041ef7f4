"""Named workloads against published figures and independent closed forms: parameters, FLOPs, bytes.

Each expected figure is a published number (with its source) or arithmetic written out here from the
published shapes, not the code's own walk over the layers.
"""

from __future__ import annotations

import pytest

from capplan.catalog import load_catalog
from capplan.perfmodel import named_workload
from capplan.perfmodel.closed_forms import resnet, retinanet, sdxl_unet, vae_decoder
from capplan.perfmodel.memory import kv_bytes_per_sequence, memory_fit
from capplan.perfmodel.named import BERT_EFFECTIVE_SEQ, WORKLOADS
from capplan.perfmodel.roofline import phase_times

# (800 / 224)^2: every stage of a ResNet trunk at 800 px is this many times larger than at 224 px
# (224 -> 56/28/14/7 and 800 -> 200/100/50/25, the same ratio at every stage).
AREA_800_224 = (800 / 224) ** 2
# RetinaNet heads run on P3-P7 of an 800x800 image: 100^2 + 50^2 + 25^2 + 13^2 + 7^2 positions.
RETINANET_POSITIONS = 100**2 + 50**2 + 25**2 + 13**2 + 7**2


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog(user_dir=False)


@pytest.mark.parametrize(
    ("name", "params", "rel", "source"),
    [
        ("gpt-j-6b", 6_053_381_344, 0.001, "huggingface.co/EleutherAI/gpt-j-6b model card, n_parameters"),
        ("llama2-70b", 68.98e9, 0.01, "Llama 2 paper (70B), HF config count"),
        ("llama3.1-8b", 8.03e9, 0.001, "Llama 3 paper: 8B (8.03B as released)"),
        ("llama3.1-405b", 405e9, 0.005, "Llama 3 paper Table 3: 405B"),
        ("mixtral-8x7b", 46.7e9, 0.001, "mistral.ai/news/mixtral-of-experts: 46.7B total"),
        ("whisper", 1550e6, 0.01, "Whisper paper Table 1: large 1550M"),
        ("bert-99", 340e6, 0.03, "BERT paper: BERT-Large 340M"),
        ("resnet50", 25_557_032, 0.005, "torchvision ResNet50_Weights num_params (BN excluded here)"),
    ],
)
def test_parameter_counts_match_published_figures(name: str, params: float, rel: float, source: str) -> None:
    assert named_workload(name).param_count == pytest.approx(params, rel=rel), source


def test_mixtral_computes_with_active_parameters_but_holds_all() -> None:
    """Mixtral: 12.9B parameters active per token (2 of 8 experts) of 46.7B (mistral.ai announcement)."""
    desc = named_workload("mixtral-8x7b")
    assert desc.active_param_count == pytest.approx(12.9e9, rel=0.002)
    # Decode FLOPs per token: 2 x active parameters less the input embedding (32000 x 4096, a lookup)
    # plus the attention over the context (QK^T and AV: 4 x 32 layers x 4096 per context token).
    ctx = 1000
    expected = 2 * (12.9e9 - 32000 * 4096) + 4 * 32 * 4096 * ctx
    assert desc.decode_flops_per_token(ctx) == pytest.approx(expected, rel=0.005)
    # Memory holds every expert: 46.7B x 1 byte at fp8.
    fit = memory_fit(
        desc.model_copy(update={"dtype": "fp8"}), load_catalog(user_dir=False).accelerator("H100")
    )
    assert fit.weights_bytes == pytest.approx(46.7e9, rel=0.001)
    # Bytes streamed per decode step: one token touches 2 of 8 experts per layer; 256 tokens touch all
    # (1 - (6/8)^256 ~ 1): expert weights 32 layers x 8 x 3 x 4096 x 14336 = 45.1B.
    experts = 32 * 8 * 3 * 4096 * 14336
    assert desc.expert_param_count == experts
    dense = desc.param_count - experts
    assert desc.streamed_params(1) == pytest.approx(dense + experts * 2 / 8)
    assert desc.streamed_params(256) == pytest.approx(dense + experts, rel=1e-9)


@pytest.mark.parametrize(
    ("name", "layers", "d_model", "embedding"),
    [
        ("gpt-j-6b", 28, 4096, 50400 * 4096),
        ("llama2-70b", 80, 8192, 32000 * 8192),
        ("llama3.1-8b", 32, 4096, 128256 * 4096),
        ("llama3.1-405b", 126, 16384, 128256 * 16384),
    ],
)
def test_decoder_flops_follow_kaplan_closed_form(
    name: str, layers: int, d_model: int, embedding: int
) -> None:
    """Kaplan et al. 2020 (arXiv 2001.08361, Table 1): forward FLOPs per token = 2 N + 2 n_layer n_ctx
    d_attn, N the non-embedding parameters (the output projection counts); plus the A.V product the
    table leaves out (another 2 n_layer n_ctx d_attn). Prefill of S tokens: causal attention, half the
    S x S scores."""
    desc = named_workload(name)
    n = desc.param_count - embedding
    for ctx in (0, 2048):
        assert desc.decode_flops_per_token(ctx) == pytest.approx(
            2 * n + 4 * layers * ctx * d_model, rel=0.001
        )
    s = desc.seq_len or 0
    assert desc.flops_per_sample == pytest.approx(2 * n * s + 2 * layers * s * s * d_model, rel=0.001)


def test_llm_kv_cache_bytes_match_the_attention_shapes(catalog) -> None:  # type: ignore[no-untyped-def]
    """Llama 2 70B: 80 layers x 8 KV heads x 128 dims, K and V: 163,840 elements per token; an fp8
    cache holds 1 byte each. Whisper large-v3 also caches the cross-attention K/V of its 1500 encoder
    frames: 2 x 32 layers x 1280 x 1500 elements per sequence (2 bytes in fp16)."""
    llama = named_workload("llama2-70b", dtype="fp8")
    assert llama.kv_elems_per_token == 2 * 80 * 8 * 128
    assert kv_bytes_per_sequence(llama, 1000) == 1000 * 163_840
    fp4 = llama.model_copy(update={"dtype": "fp4"})
    assert kv_bytes_per_sequence(fp4, 1000) == 1000 * 163_840  # 4-bit weights, 8-bit cache
    whisper = named_workload("whisper", dtype="fp16")
    assert kv_bytes_per_sequence(whisper, 0) == 2 * 32 * 1280 * 1500 * 2
    decode = phase_times(whisper, catalog.accelerator("H100"))[1]
    # One decode step streams the decoder only: 32 layers x (self 4 d^2 + cross 4 d^2 + FFN 2 x d x 4d)
    # plus the tied output projection (51866 x d), then reads the cache: the text so far (on average
    # half of the 63.5 output tokens) and the 1500 cross-attention frames.
    decoder = 32 * (4 + 4 + 8) * 1280**2 + 51866 * 1280
    text = 63.5 / 2
    assert decode.bytes == pytest.approx(decoder * 2 + 2 * 32 * 1280 * (text + 1500) * 2, rel=1e-9)


def test_bert_99_runs_at_its_effective_length_and_matches_torch() -> None:
    """MLPerf bert-99 is BERT-Large on SQuAD v1.1 padded to 384; 54% of those tokens are padding
    (openreview.net/forum?id=3nzKUh9a4M): 384 x 0.46 = 176.6 -> 177 real tokens. At that length the
    closed form counts what torch's flop counter counts on the harness's BERT-Large (meta device)."""
    from capplan.workloads import WorkloadParams
    from capplan.workloads.flops import count_facts

    assert BERT_EFFECTIVE_SEQ == 177
    desc = named_workload("bert-99")
    assert desc.seq_len == 177
    facts = count_facts(WorkloadParams(model="bert", size="large", seq_len=177))
    assert desc.flops_per_sample == pytest.approx(facts["flops_per_sample"], rel=0.001)
    assert desc.param_count == pytest.approx(facts["param_count"], rel=0.01)  # pooler, norms, biases aside


def test_retinanet_matches_torchvision_and_mlperf_variant() -> None:
    """torchvision RetinaNet_ResNet50_FPN_Weights.COCO_V1: 34,014,999 parameters, 151.54 GMACs at
    800x800 (its ``_ops``); ResNeXt50_32X4D_Weights: 4.23 GMACs at 224 (torchvision/models, meta)."""
    torchvision_like = retinanet("r", classes=91, side=800, source="test")
    assert torchvision_like.param_count == pytest.approx(34_014_999, rel=1e-4)
    assert torchvision_like.flops_per_sample / 2 == pytest.approx(151.54e9, rel=1e-3)
    resnext = resnet("x", groups=32, width_per_group=4, source="test")
    assert resnext.flops_per_sample / 2 == pytest.approx(4.23e9, rel=2e-3)
    # MLPerf: ResNeXt50-32x4d trunk and 264 classes. From the torchvision figure: swap the trunk
    # (4.23 - 4.09 GMACs at 224, scaled by the area ratio) and widen the class head from 9 x 91 to
    # 9 x 264 outputs of a 3x3 conv over 256 channels at every head position.
    expected_macs = (
        151.54e9 + (4.23e9 - 4.09e9) * AREA_800_224 + 9 * (264 - 91) * 256 * 9 * RETINANET_POSITIONS
    )
    mlperf = named_workload("retinanet")
    assert mlperf.flops_per_sample / 2 == pytest.approx(expected_macs, rel=0.005)


def test_sdxl_per_image_cost_and_unet_shapes() -> None:
    """SDXL UNet 2.6B parameters (SDXL paper, Table 1); the same walker with SD 1.x's config gives the
    860M UNet of the Stable Diffusion v1 model card. One MLPerf image = 20 steps x 2 UNet evaluations
    (classifier-free guidance) + one VAE decode + the text encoders on 2 prompts; UNet weights are
    streamed once per step."""
    unet = sdxl_unet()
    assert unet.params == pytest.approx(2.6e9, rel=0.015)
    sd1 = sdxl_unet(
        latent=64,
        channels=(320, 640, 1280, 1280),
        depths=(1, 1, 1, 0),
        context_dim=768,
        add_embed_in=0,
        mid_depth=1,
    )
    assert sd1.params == pytest.approx(860e6, rel=0.002)
    # Convolutions and projections scale with the latent area, attention scores with its square:
    # doubling the side multiplies the cost by between 4 and 16 (mostly 4).
    assert 4 < unet.macs / sdxl_unet(latent=64).macs < 4.5
    desc = named_workload("stable-diffusion-xl")
    vae = vae_decoder()
    text = 2 * 2 * 77 * (123e6 + 694e6)  # 2 prompts x 2 FLOPs x 77 tokens x CLIP-L + OpenCLIP-bigG
    expected = 2 * (20 * 2 * unet.macs + vae.macs) + text
    assert desc.flops_per_sample == pytest.approx(expected, rel=0.005)
    assert desc.weight_passes == 20
    forward = phase_times(
        desc.model_copy(update={"dtype": "fp8", "batch": 4}), load_catalog(user_dir=False).accelerator("H100")
    )[0]
    activations = 4 * desc.io_elems_per_sample * 1
    assert forward.bytes == pytest.approx(20 * desc.param_count + activations)


def test_dlrm_v2_flops_and_lookup_bytes() -> None:
    """MLPerf DLRM-DCNv2 per user-item pair: bottom MLP 13-512-256-128, three low-rank (512) cross layers
    on 27 x 128 = 3456 features, top MLP 3456-1024-1024-512-256-1; 214 embedding rows of 128 gathered.
    One MLPerf sample bundles 270 pairs; the 26 tables hold 204,184,588 rows."""
    macs_per_pair = (
        13 * 512
        + 512 * 256
        + 256 * 128
        + 3 * 2 * 3456 * 512
        + 3456 * 1024
        + 1024 * 1024
        + 1024 * 512
        + 512 * 256
        + 256 * 1
    )
    desc = named_workload("dlrm-v2", dtype="int8")
    assert desc.flops_per_sample == 2 * macs_per_pair * 270
    assert desc.sparse_param_count == 204_184_588 * 128
    assert desc.lookup_elems_per_sample == 270 * 214 * 128
    forward = phase_times(
        desc.model_copy(update={"batch": 8}), load_catalog(user_dir=False).accelerator("H100")
    )[0]
    dense = desc.param_count - desc.sparse_param_count
    # Dense weights once per batch, 1 byte per gathered int8 element, activations at 1 byte.
    assert forward.bytes == pytest.approx(dense + 8 * (270 * 214 * 128 + desc.io_elems_per_sample))


def test_whisper_encoder_flops() -> None:
    """Whisper large-v3 per 30 s clip: two convolutions (128 -> 1280 over 3000 frames, 1280 -> 1280 over
    1500), 32 encoder layers of 4 d^2 + 2 d d_ff MACs per frame plus full attention (2 x 1500^2 x d
    MACs), then the cross-attention K and V of 32 decoder layers over the 1500 frames."""
    d, ff, frames = 1280, 5120, 1500
    macs = (
        128 * d * 3 * 3000
        + d * d * 3 * frames
        + 32 * ((4 * d * d + 2 * d * ff) * frames + 2 * frames**2 * d)
        + 32 * 2 * d * d * frames
    )
    assert named_workload("whisper").flops_per_sample == pytest.approx(2 * macs, rel=1e-9)


def test_every_named_workload_has_a_source_and_defaults() -> None:
    for name, entry in WORKLOADS.items():
        desc = entry.describe()
        assert desc.source and desc.param_count > 0 and desc.flops_per_sample > 0, name
        if entry.task == "generate":
            assert desc.kv_elems_per_token, name
    # Stated assumptions say so in the workload's source text.
    assert "ASSUMED" in named_workload("llama2-70b").source
    assert "DERIVED" in named_workload("bert-99").source
