"""Named workloads: published shapes turned into WorkloadDescs, with the defaults MLPerf runs them at.

One entry per model. ``task`` is what the name projects by default; ``gen_tokens`` the mean output
tokens per request MLPerf measures; ``seq_len`` the default prompt (or sequence) length with the
reason for it. Where MLCommons publishes no mean input length, the default is stated as an assumption.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from capplan.perfmodel.closed_forms import (
    dlrm_dcnv2,
    resnet,
    retinanet,
    stable_diffusion_xl,
    transformer,
    whisper,
)
from capplan.perfmodel.desc import Task, ThroughputItem, WorkloadDesc

_BERT = "BERT (Devlin et al. 2019, arXiv 1810.04805) shapes"
_GPT2 = "GPT-2 (Radford et al. 2019) shapes"
_GPT3 = "GPT-3 (Brown et al. 2020, arXiv 2005.14165, Table 2.1: 96 layers, d 12288) shapes"
_LLAMA2 = "Llama 2 (Touvron et al. 2023, arXiv 2307.09288) shapes"
_LLAMA3 = "Llama 3 (The Llama 3 Herd of Models, arXiv 2407.21783, Table 3) shapes; vocabulary 128256"
_RESNET = "ResNet v1.5 (He et al. 2016; torchvision resnet50/101) shapes"
_MLPERF_CONF = (
    "MLCommons mlperf.conf as shipped in github.com/ntuhpc/inference_results_v5.1 (commit "
    "a634ab772637c2d940cfef45fae86553211f525b) closed/AMD/measurements/8xMI300X_2xEPYC_9575F/"
    "llama2-70b-99/Server/mlperf.conf"
)
_CHECKER = (
    "MLCommons submission_checker.py TOKENS_PER_SAMPLE as shipped in github.com/gbeezybez/"
    "inference_results_v6.0 (commit ab33b2144a9f822f69d24f78569f993d195ee7e5) closed/MangoBoost/src/"
    "llama2-70b-99/tools/submission_checker.py"
)
_NV_BW = (
    "NVIDIA closed/NVIDIA/documentation/bandwidth_requirement.md in github.com/ntuhpc/"
    "inference_results_v5.1 (commit a634ab772637c2d940cfef45fae86553211f525b)"
)
# MLPerf's BERT (SQuAD v1.1 at 384 tokens) is scored per padded sequence, but padding-free kernels only
# process the real tokens. A published figure puts padding at 54% of SQuAD v1.1 input tokens at 384
# (https://openreview.net/forum?id=3nzKUh9a4M): effective length 384 x (1 - 0.54) = 176.6 -> 177 tokens.
# Derived here; MLCommons publishes no mean unpadded length for its 10833-sequence set.
BERT_PADDED_SEQ = 384
BERT_PADDING_FRACTION = 0.54
BERT_EFFECTIVE_SEQ = round(BERT_PADDED_SEQ * (1 - BERT_PADDING_FRACTION))
# CNN/DailyMail articles average 781 (word) tokens (See et al. 2017, arXiv 1704.04368): the prompt length
# assumed for gpt-j and llama3.1-8b, whose MLPerf datasets are CNN/DailyMail summarisation.
CNN_DAILYMAIL_ARTICLE_TOKENS = 781
# No published mean input length for these MLPerf datasets was found: half the maximum input length
# (bandwidth_requirement.md: 1024, 2048, 20000 tokens) is assumed and labelled as such.
ASSUMED_HALF_MAX = (
    "ASSUMED: half the MLPerf maximum input length ({} tokens, " + _NV_BW + "); no mean published"
)


@dataclass(frozen=True)
class NamedWorkload:
    """A named model: how to build it for a sequence length, and its defaults."""

    build: Callable[[int | None], WorkloadDesc]
    task: Task = "infer"
    gen_tokens: float | None = None
    gen_source: str = ""
    seq_source: str = ""
    throughput_item: ThroughputItem = "tokens"
    server_bound: str = ""

    def describe(self, seq_len: int | None = None) -> WorkloadDesc:
        desc = self.build(seq_len)
        notes = [s for s in (self.seq_source if seq_len is None else "", self.gen_source) if s]
        source = "; ".join([desc.source, *notes])
        return desc.model_copy(
            update={
                "task": self.task,
                "gen_tokens": self.gen_tokens,
                "throughput_item": self.throughput_item,
                "source": source,
            }
        )


def _llama(
    name: str,
    layers: int,
    d: int,
    ff: int,
    vocab: int,
    kv: int | None,
    default_seq: int,
    source: str,
    family: str = "llama",
    experts: int = 0,
) -> Callable[[int | None], WorkloadDesc]:
    """A Llama-style decoder (gated FFN, untied head, causal attention), optionally with top-2 experts."""
    return lambda seq: transformer(
        name,
        family,
        layers=layers,
        d_model=d,
        d_ff=ff,
        vocab=vocab,
        kv_dim=kv,
        gated_ffn=True,
        lm_head=True,
        tied_head=False,
        causal=True,
        experts=experts,
        experts_per_token=2 if experts else 0,
        seq_len=seq or default_seq,
        source=source,
    )


def _gpt(
    name: str,
    layers: int,
    d_model: int,
    *,
    positions: int = 1024,
    default_seq: int = 512,
    source: str = _GPT2,
) -> Callable[[int | None], WorkloadDesc]:
    """A GPT-2/GPT-3-style decoder (4x FFN, learned positions, tied head, causal attention)."""
    return lambda seq: transformer(
        name,
        "gpt",
        layers=layers,
        d_model=d_model,
        d_ff=4 * d_model,
        vocab=50257,
        positions=positions,
        lm_head=True,
        causal=True,
        seq_len=seq or default_seq,
        source=source,
    )


def _clip_text(width: int, layers: int) -> WorkloadDesc:
    return transformer(
        "clip-text",
        "bert",
        layers=layers,
        d_model=width,
        d_ff=4 * width,
        vocab=49408,
        positions=77,
        seq_len=77,
        source="CLIP text encoder",
    )


WORKLOADS: dict[str, NamedWorkload] = {
    "bert-base": NamedWorkload(
        lambda seq: transformer(
            "bert-base",
            "bert",
            layers=12,
            d_model=768,
            d_ff=3072,
            vocab=30522,
            positions=512,
            seq_len=seq or 128,
            source=_BERT,
        )
    ),
    "bert-large": NamedWorkload(
        lambda seq: transformer(
            "bert-large",
            "bert",
            layers=24,
            d_model=1024,
            d_ff=4096,
            vocab=30522,
            positions=512,
            seq_len=seq or BERT_PADDED_SEQ,
            source=_BERT,
        )
    ),
    "bert-99": NamedWorkload(
        lambda seq: transformer(
            "bert-99",
            "bert",
            layers=24,
            d_model=1024,
            d_ff=4096,
            vocab=30522,
            positions=512,
            seq_len=seq or BERT_EFFECTIVE_SEQ,
            source=_BERT + " (BERT-Large)",
        ),
        seq_source=f"MLPerf bert-99 at the effective (unpadded) length {BERT_EFFECTIVE_SEQ} tokens = "
        f"{BERT_PADDED_SEQ} x (1 - {BERT_PADDING_FRACTION}), DERIVED from the 54% padding of "
        "SQuAD v1.1 at 384 tokens published at https://openreview.net/forum?id=3nzKUh9a4M",
        server_bound="p99 latency <= 130 ms (" + _MLPERF_CONF + ")",
    ),
    "gpt2": NamedWorkload(_gpt("gpt2", 12, 768), task="generate"),
    "gpt2-medium": NamedWorkload(_gpt("gpt2-medium", 24, 1024), task="generate"),
    "gpt-j-6b": NamedWorkload(
        lambda seq: transformer(
            "gpt-j-6b",
            "gpt",
            layers=28,
            d_model=4096,
            d_ff=16384,
            vocab=50400,
            lm_head=True,
            tied_head=False,
            causal=True,
            seq_len=seq or CNN_DAILYMAIL_ARTICLE_TOKENS,
            source="GPT-J-6B model card (huggingface.co/EleutherAI/gpt-j-6b: 28 layers, d 4096, "
            "d_ff 16384, 16 heads, vocabulary padded to 50400)",
        ),
        task="generate",
        gen_tokens=69,
        throughput_item="samples",
        gen_source="69 output tokens per sample: gptj token_latency_scaling_factor in " + _MLPERF_CONF,
        seq_source=f"prompt {CNN_DAILYMAIL_ARTICLE_TOKENS} tokens: CNN/DailyMail mean article length "
        "(See et al. 2017, arXiv 1704.04368), ASSUMED for MLPerf's subset",
        server_bound="p99 latency <= 20 s (" + _MLPERF_CONF + ")",
    ),
    "llama-7b": NamedWorkload(
        _llama("llama-7b", 32, 4096, 11008, 32000, None, 1024, _LLAMA2), task="generate"
    ),
    "llama2-13b": NamedWorkload(
        _llama("llama2-13b", 40, 5120, 13824, 32000, None, 4096, _LLAMA2), task="generate"
    ),
    "llama2-70b": NamedWorkload(
        _llama(
            "llama2-70b",
            80,
            8192,
            28672,
            32000,
            1024,
            512,
            _LLAMA2 + " (grouped-query attention, 8 KV heads)",
        ),
        task="generate",
        gen_tokens=294.45,
        gen_source="294.45 output tokens per sample: " + _CHECKER,
        seq_source="prompt " + ASSUMED_HALF_MAX.format(1024),
        server_bound="TTFT p99 <= 2 s, TPOT p99 <= 200 ms (" + _MLPERF_CONF + ")",
    ),
    "llama3.1-8b": NamedWorkload(
        _llama("llama3.1-8b", 32, 4096, 14336, 128256, 1024, CNN_DAILYMAIL_ARTICLE_TOKENS, _LLAMA3),
        task="generate",
        gen_tokens=128,
        gen_source="128 output tokens per sample: the maximum output length, which MLPerf v5.1 logs reach "
        "(Tokens/Samples per second 128.0-129.0 over 24 Offline logs, DERIVED)",
        seq_source=f"prompt {CNN_DAILYMAIL_ARTICLE_TOKENS} tokens: CNN/DailyMail mean article length "
        "(See et al. 2017, arXiv 1704.04368), ASSUMED for MLPerf's subset",
        server_bound="TTFT p99 <= 2 s, TPOT p99 <= 100 ms (" + _MLPERF_CONF + ")",
    ),
    "llama3-70b": NamedWorkload(
        _llama("llama3-70b", 80, 8192, 28672, 128256, 1024, 8192, _LLAMA3), task="generate"
    ),
    "llama3.1-405b": NamedWorkload(
        _llama("llama3.1-405b", 126, 16384, 53248, 128256, 1024, 10000, _LLAMA3),
        task="generate",
        gen_tokens=684.68,
        gen_source="684.68 output tokens per sample: " + _CHECKER,
        seq_source="prompt " + ASSUMED_HALF_MAX.format(20000),
        server_bound="TTFT p99 <= 6 s, TPOT p99 <= 175 ms (" + _MLPERF_CONF + ")",
    ),
    "mixtral-8x7b": NamedWorkload(
        _llama(
            "mixtral-8x7b",
            32,
            4096,
            14336,
            32000,
            1024,
            1024,
            family="moe",
            experts=8,
            source="Mixtral of Experts (arXiv 2401.04088, Table 1: 32 layers, d 4096, 8 experts of d_ff "
            "14336, top-2, 8 KV heads); 46.7B total / 12.9B active parameters "
            "(mistral.ai/news/mixtral-of-experts)",
        ),
        task="generate",
        gen_tokens=144.84,
        gen_source="144.84 output tokens per sample: " + _CHECKER,
        seq_source="prompt " + ASSUMED_HALF_MAX.format(2048),
        server_bound="TTFT p99 <= 2 s, TPOT p99 <= 200 ms (" + _MLPERF_CONF + ")",
    ),
    "gpt3-175b": NamedWorkload(
        _gpt("gpt3-175b", 96, 12288, positions=2048, default_seq=2048, source=_GPT3), task="generate"
    ),
    "resnet50": NamedWorkload(
        lambda seq: resnet("resnet50", source=_RESNET),
        server_bound="p99 latency <= 15 ms (" + _MLPERF_CONF + ")",
    ),
    "resnet101": NamedWorkload(lambda seq: resnet("resnet101", blocks=(3, 4, 23, 3), source=_RESNET)),
    "retinanet": NamedWorkload(
        lambda seq: retinanet(
            "retinanet",
            classes=264,
            groups=32,
            width_per_group=4,
            side=800,
            source="MLPerf RetinaNet: ResNeXt50-32x4d FPN at 800x800 (" + _NV_BW + "), "
            "264 OpenImages classes, torchvision RetinaNet heads (9 anchors)",
        ),
        server_bound="p99 latency <= 100 ms (" + _MLPERF_CONF + ")",
    ),
    "stable-diffusion-xl": NamedWorkload(
        lambda seq: stable_diffusion_xl(
            "stable-diffusion-xl",
            steps=20,
            side=1024,
            text_encoders=(_clip_text(768, 12), _clip_text(1280, 32)),
            source="SDXL (Podell et al. 2023, arXiv 2307.01952) UNet and VAE as in stabilityai/"
            "stable-diffusion-xl-base-1.0 unet/config.json and vae/config.json; 20 Euler steps with "
            "classifier-free guidance at 1024x1024 (NVIDIA PipelineConfig in closed/NVIDIA/code/"
            "stable-diffusion-xl/tensorrt/utilities.py, inference_results_v5.1 commit a634ab77); "
            "text encoders CLIP ViT-L (12 x 768) and OpenCLIP ViT-bigG (32 x 1280)",
        ),
        server_bound="p99 latency <= 20 s (" + _MLPERF_CONF + ")",
    ),
    "dlrm-v2": NamedWorkload(
        lambda seq: dlrm_dcnv2(
            "dlrm-v2",
            dense_features=13,
            bottom=(512, 256, 128),
            top=(1024, 1024, 512, 256, 1),
            tables=26,
            embedding_dim=128,
            embedding_rows=204_184_588,
            lookups_per_pair=214,
            cross_layers=3,
            cross_rank=512,
            pairs_per_sample=270,
            source="MLPerf DLRM-DCNv2 as configured in NVIDIA/ASUSTeK code in inference_results_v5.1 (commit "
            "a634ab77): 26 tables x 128 dims (204,184,588 rows), 214 multi-hot lookups per pair, "
            "DCNv2 3 layers rank 512, MLPs 13-512-256-128 and 1024-1024-512-256-1; 270 pairs per "
            "sample (" + _NV_BW + ")",
        ),
        server_bound="p99 latency <= 60 ms (" + _MLPERF_CONF + ")",
    ),
    "whisper": NamedWorkload(
        lambda seq: whisper(
            "whisper",
            enc_layers=32,
            dec_layers=32,
            d_model=1280,
            d_ff=5120,
            vocab=51866,
            mels=128,
            audio_frames=3000,
            text_positions=448,
            source="Whisper large-v3 (Radford et al. 2022, arXiv 2212.04356; openai/whisper-large-v3 "
            "config.json: 32+32 layers, d 1280, 128 mel bins, 30 s = 3000 frames)",
        ),
        task="generate",
        gen_tokens=63.5,
        gen_source="63.5 output tokens per sample: median Tokens/Samples per second over 37 MLPerf v5.1 "
        "whisper logs (DERIVED)",
    ),
}

# Harness model names (capplan.workloads presets), MLPerf benchmark folder names and common spellings.
ALIASES = {
    "bert-99.9": "bert-99",
    "gpt-base": "gpt2",
    "gpt-large": "gpt2-medium",
    "resnet-base": "resnet50",
    "resnet-large": "resnet101",
    "llama2-7b": "llama-7b",
    "llama-70b": "llama2-70b",
    "llama2-70b-99": "llama2-70b",
    "llama2-70b-99.9": "llama2-70b",
    "gpt-j": "gpt-j-6b",
    "gpt-j-99": "gpt-j-6b",
    "gpt-j-99.9": "gpt-j-6b",
    "gptj-99": "gpt-j-6b",
    "gptj-99.9": "gpt-j-6b",
    "llama3_1-8b": "llama3.1-8b",
    "llama3-8b": "llama3.1-8b",
    "llama3_1-405b": "llama3.1-405b",
    "llama3.1-70b": "llama3-70b",
    "mixtral": "mixtral-8x7b",
    "sdxl": "stable-diffusion-xl",
    "dlrm-v2-99": "dlrm-v2",
    "dlrm-v2-99.9": "dlrm-v2",
    "whisper-large-v3": "whisper",
}


def variant_of(name: str) -> str:
    """The MLPerf accuracy target a name carries ('99.9' for llama2-70b-99.9), else ''."""
    for target in ("99.9", "99"):
        if name.lower().endswith(f"-{target}") and lookup(name) is not None:
            return target
    return ""


def lookup(name: str) -> str | None:
    """The registry key for ``name`` (a name or an alias, case-insensitive), or None."""
    key = ALIASES.get(name.lower(), name.lower())
    return key if key in WORKLOADS else None
