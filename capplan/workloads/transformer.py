"""Transformer building blocks shared by the BERT-like encoder and the GPT-like decoder.

Attention uses ``F.scaled_dot_product_attention`` (flash/memory-efficient kernels where the device has
them). The decoder's KV cache is preallocated to the context length so decode steps do not reallocate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from capplan.workloads.base import Workload


@dataclass(frozen=True)
class TransformerShape:
    layers: int
    d_model: int
    heads: int
    d_ff: int
    vocab: int
    max_positions: int

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("layers", "d_model", "heads", "d_ff", "vocab", "max_positions")}


class KVCache:
    """Per-layer key/value buffers of shape [batch, heads, max_len, head_dim] and the filled length."""

    def __init__(
        self, shape: TransformerShape, batch: int, max_len: int, device: torch.device, dtype: torch.dtype
    ):
        head_dim = shape.d_model // shape.heads
        dims = (batch, shape.heads, max_len, head_dim)
        self.k = [torch.zeros(dims, device=device, dtype=dtype) for _ in range(shape.layers)]
        self.v = [torch.zeros(dims, device=device, dtype=dtype) for _ in range(shape.layers)]
        self.length = 0


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(
        self, x: torch.Tensor, causal: bool, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (
            z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(x).chunk(3, dim=-1)
        )
        mask = None
        if cache is not None:
            start = cache.length
            cache.k[layer][:, :, start : start + t] = k
            cache.v[layer][:, :, start : start + t] = v
            k, v = cache.k[layer][:, :, : start + t], cache.v[layer][:, :, : start + t]
            if start > 0:  # queries at positions start..start+t-1 see keys up to their own position
                causal = False
                if t > 1:
                    mask = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Attention + GELU feed-forward with residuals; ``pre_norm`` (GPT-2) or post-norm (BERT)."""

    def __init__(self, shape: TransformerShape, pre_norm: bool) -> None:
        super().__init__()
        self.pre_norm = pre_norm
        self.attn = SelfAttention(shape.d_model, shape.heads)
        self.norm1 = nn.LayerNorm(shape.d_model)
        self.norm2 = nn.LayerNorm(shape.d_model)
        self.ff = nn.Sequential(
            nn.Linear(shape.d_model, shape.d_ff), nn.GELU(), nn.Linear(shape.d_ff, shape.d_model)
        )

    def forward(
        self, x: torch.Tensor, causal: bool, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attn(self.norm1(x), causal, cache, layer)
            return x + self.ff(self.norm2(x))
        x = self.norm1(x + self.attn(x, causal, cache, layer))
        return self.norm2(x + self.ff(x))


def resolve_seq_len(model: str, size: str, shape: TransformerShape, seq_len: int | None, default: int) -> int:
    """``seq_len`` or the size's default; ValueError when it exceeds the model's positions."""
    seq = seq_len or default
    if seq > shape.max_positions:
        raise ValueError(f"seq_len {seq} exceeds {model}-{size} max positions {shape.max_positions}")
    return seq


def token_workload(name: str, size: str, shape: TransformerShape, model: nn.Module, seq_len: int,
                   make_targets: Callable[[int, torch.Generator], torch.Tensor],
                   loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Workload:
    """A transformer Workload fed random token ids of ``seq_len`` tokens (the BERT and GPT models)."""
    return Workload(name=name, size=size, model=model,
                    make_inputs=lambda b, g: (random_tokens(shape, b, seq_len, g),),
                    make_targets=make_targets, loss=loss, seq_len=seq_len, shape=shape.as_dict())


def random_tokens(shape: TransformerShape, batch: int, seq_len: int, g: torch.Generator) -> torch.Tensor:
    """Uniform random token ids, shape [batch, seq_len]."""
    return torch.randint(0, shape.vocab, (batch, seq_len), generator=g)
