"""GPT-like decoder with a KV cache: ``base`` is GPT-2 small (124 M), ``large`` GPT-2 medium (355 M).

``forward(ids)`` is the training/prefill pass without a cache; ``forward(ids, cache)`` appends to the
cache, so prefill (many tokens) and decode (one token per step) share one code path.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from capplan.workloads.base import Workload
from capplan.workloads.transformer import (
    Block,
    KVCache,
    TransformerShape,
    random_tokens,
    resolve_seq_len,
    token_workload,
)

PRESETS: dict[str, TransformerShape] = {
    "tiny": TransformerShape(layers=2, d_model=128, heads=4, d_ff=512, vocab=1000, max_positions=512),
    "base": TransformerShape(layers=12, d_model=768, heads=12, d_ff=3072, vocab=50257, max_positions=1024),
    "large": TransformerShape(layers=24, d_model=1024, heads=16, d_ff=4096, vocab=50257, max_positions=1024),
}
# Default training/prefill length: a quarter of the context for tiny, half for GPT-2 sizes.
DEFAULT_SEQ_LEN = {"tiny": 64, "base": 512, "large": 512}


class Gpt(nn.Module):
    def __init__(self, shape: TransformerShape) -> None:
        super().__init__()
        self.shape = shape
        self.tok = nn.Embedding(shape.vocab, shape.d_model)
        self.pos = nn.Embedding(shape.max_positions, shape.d_model)
        self.blocks = nn.ModuleList(Block(shape, pre_norm=True) for _ in range(shape.layers))
        self.norm = nn.LayerNorm(shape.d_model)
        self.lm_head = nn.Linear(shape.d_model, shape.vocab, bias=False)
        self.lm_head.weight = self.tok.weight  # tied, as in GPT-2

    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        """An empty KV cache on the model's device and dtype."""
        w = self.tok.weight
        return KVCache(self.shape, batch, max_len or self.shape.max_positions, w.device, w.dtype)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        start = cache.length if cache is not None else 0
        if start + ids.shape[1] > self.shape.max_positions:
            raise ValueError(
                f"sequence of {start + ids.shape[1]} tokens exceeds context {self.shape.max_positions}"
            )
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.tok(ids) + self.pos(positions)
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, cache=cache, layer=i)
        if cache is not None:
            cache.length += ids.shape[1]
        return self.lm_head(self.norm(x))


def _lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def build(size: str, seq_len: int | None = None) -> Workload:
    shape = PRESETS[size]
    seq = resolve_seq_len("gpt", size, shape, seq_len, DEFAULT_SEQ_LEN[size])
    return token_workload("gpt", size, shape, Gpt(shape), seq,
                          make_targets=lambda b, g: random_tokens(shape, b, seq, g), loss=_lm_loss)
