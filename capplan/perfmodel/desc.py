"""WorkloadDesc: what the roofline needs to know about one workload (FLOPs, parameters, bytes moved).

A multiply-add counts 2 FLOPs, as torch.utils.flop_counter does. Per-sample figures; ``batch`` samples
make one step. Decoders also describe one generated token (``decode_*``), mixtures of experts their
expert parameters (compute uses the active ones, memory holds them all), recommenders the embedding
rows they look up (never streamed whole).
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

from capplan.errors import UserError
from capplan.harness.spec import WorkloadTask

Task = WorkloadTask  # the tasks a workload can be projected for (a harness kind's task, less micro)
WORKLOAD_TASKS: tuple[str, ...] = get_args(Task)
# Bytes per element. 4-bit formats (NVFP4/MXFP4 weights, int4 weight-only) pack two values per byte.
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4,
    "tf32": 4,
    "bf16": 2,
    "fp16": 2,
    "fp8": 1,
    "int8": 1,
    "fp4": 0.5,
    "int4": 0.5,
}
DTYPE_ALIASES = {
    "float32": "fp32",
    "float": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
    "nvfp4": "fp4",
    "mxfp4": "fp4",
    "mxfp8": "fp8",
    "fp8-cs": "fp8",
    "fp8-e4m3": "fp8",
    "uint4": "int4",
}
# KV caches and activations of runs with 8-bit or narrower weights stay 8-bit (an FP8 KV cache): the
# 4-bit formats quantise weights (and matmul inputs), not the cached keys and values.
MIN_CACHE_BYTES = 1.0
# New tokens per request when a generate workload does not say (a typical chat/summary answer length).
DEFAULT_GEN_TOKENS = 128
ThroughputItem = Literal["samples", "tokens"]


def canonical_dtype(dtype: str) -> str:
    """fp32/tf32/bf16/fp16/fp8/int8/fp4/int4 from common spellings; UserError otherwise."""
    name = DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
    if name not in DTYPE_BYTES:
        raise UserError(f"--dtype: {dtype!r} is not supported; allowed: {', '.join(DTYPE_BYTES)}")
    return name


class WorkloadDesc(BaseModel):
    """One workload at one batch size and dtype."""

    name: str
    family: str = Field(description="model family for calibration: bert, resnet, gpt, llama, moe, ...")
    variant: str = Field("", description="MLPerf accuracy target (99 or 99.9) when the name gives one")
    task: Task = "infer"
    dtype: str = "fp32"
    batch: int = Field(1, ge=1, description="samples per step (train: per optimizer step and replica)")
    micro_batch: int | None = Field(None, ge=1, description="train: samples per forward/backward pass")
    seq_len: int | None = Field(None, ge=1, description="tokens per sample (prompt length for generate)")
    gen_tokens: float | None = Field(None, gt=0, description="new tokens per sequence (generate)")
    flops_per_sample: float = Field(gt=0, description="forward FLOPs for one sample (generate: the prompt)")
    train_flops_per_sample: float | None = Field(
        None, gt=0, description="forward+backward FLOPs; default 3x forward"
    )
    param_count: float = Field(gt=0, description="every parameter held in memory")
    active_param_count: float | None = Field(
        None, gt=0, description="parameters whose matmuls run per token (MoE: shared + top-k experts)"
    )
    expert_param_count: float = Field(0, ge=0, description="MoE: parameters of all experts together")
    experts: int = Field(0, ge=0, description="MoE: experts per layer")
    experts_per_token: int = Field(0, ge=0, description="MoE: experts each token is routed to")
    sparse_param_count: float = Field(
        0, ge=0, description="embedding-table parameters read only where looked up (recommenders)"
    )
    lookup_elems_per_sample: float = Field(0, ge=0, description="embedding elements gathered per sample")
    weight_passes: int = Field(1, ge=1, description="passes over the weights per step (diffusion steps)")
    io_elems_per_sample: float = Field(0, ge=0, description="activation elements read+written, forward")
    live_elems_per_sample: float = Field(0, ge=0, description="largest activation working set (inference)")
    saved_elems_per_sample: float = Field(0, ge=0, description="activations kept for backward (training)")
    kv_elems_per_token: float | None = Field(None, ge=0, description="KV-cache elements per token (decoders)")
    kv_fixed_elems_per_sequence: float = Field(
        0, ge=0, description="cache elements per sequence independent of length (cross-attention K/V)"
    )
    decoder_prompt_tokens: int | None = Field(
        None, ge=0, description="tokens the decoder caches before generating (default seq_len; 0 for an "
        "encoder-decoder whose seq_len is the encoder's input)"
    )
    decode_param_count: float | None = Field(
        None, gt=0, description="parameters whose matmuls run per generated token (default: active)"
    )
    decode_attn_flops_per_ctx: float = Field(
        0, ge=0, description="attention FLOPs per generated token per token of context"
    )
    decode_fixed_flops: float = Field(
        0, ge=0, description="other FLOPs per generated token (cross-attention)"
    )
    layers: int | None = Field(None, ge=1, description="layers, for tensor-parallel collectives")
    d_model: int | None = Field(None, ge=1, description="hidden size, for tensor-parallel collectives")
    throughput_item: ThroughputItem = Field(
        "tokens", description="generate: throughput counted in output tokens or in samples"
    )
    source: str = Field(description="where the figures come from")

    @property
    def train_flops(self) -> float:
        """Training FLOPs per sample: measured, or 3x forward (backward costs about twice the forward)."""
        return self.train_flops_per_sample or 3.0 * self.flops_per_sample

    @property
    def decode_tokens(self) -> float:
        """New tokens per sequence (``gen_tokens`` or DEFAULT_GEN_TOKENS)."""
        return self.gen_tokens or DEFAULT_GEN_TOKENS

    @property
    def prompt_kv_tokens(self) -> int:
        """Tokens in the KV cache when generation starts."""
        if self.decoder_prompt_tokens is None:
            return self.seq_len or 1
        return self.decoder_prompt_tokens

    def mean_context(self) -> float:
        """Mean tokens cached during one decode step: the prompt plus half the output."""
        return self.prompt_kv_tokens + self.decode_tokens / 2

    @property
    def active_params(self) -> float:
        return self.active_param_count or self.param_count

    def decode_flops_per_token(self, context_tokens: float) -> float:
        """FLOPs for one new token with ``context_tokens`` already cached."""
        if self.decode_param_count or self.decode_attn_flops_per_ctx:
            params = self.decode_param_count or self.active_params
            return 2 * params + self.decode_attn_flops_per_ctx * context_tokens + self.decode_fixed_flops
        return self.flops_per_sample / (self.seq_len or 1)  # measured records: the forward cost per token

    def streamed_params(self, tokens: float) -> float:
        """Parameters read from memory by one pass over ``tokens`` tokens (or samples).

        Embedding tables are not streamed (their rows are gathered per sample, see lookups); an expert
        is read when at least one token routes to it: each of ``experts`` is missed by all ``tokens``
        with probability (1 - k/E)^tokens under uniform routing.
        """
        dense = self.param_count - self.sparse_param_count - self.expert_param_count
        if not self.expert_param_count:
            return dense
        missed = (1 - self.experts_per_token / self.experts) ** max(tokens, 1)
        return dense + self.expert_param_count * (1 - missed)

    def decode_streamed_params(self, sequences: float) -> float:
        """Parameters read by one decode step over ``sequences`` sequences: the decoder's matmul weights
        (``decode_param_count``; embeddings are gathered, an encoder is not run), with the experts
        touched by ``sequences`` tokens in place of the k per token."""
        if not self.decode_param_count:
            return self.streamed_params(sequences)
        if not self.expert_param_count:
            return self.decode_param_count
        share = self.experts_per_token / self.experts
        dense = self.decode_param_count - self.expert_param_count * share
        return dense + self.expert_param_count * (1 - (1 - share) ** max(sequences, 1))

    def cache_bytes(self) -> float:
        """Bytes per cached key/value or activation element at this dtype (at least 8-bit)."""
        return max(DTYPE_BYTES[self.dtype], MIN_CACHE_BYTES)
