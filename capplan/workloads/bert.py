"""BERT-like encoder for sequence classification: ``base`` is BERT-base (Devlin et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from capplan.workloads.base import Workload
from capplan.workloads.transformer import Block, TransformerShape, resolve_seq_len, token_workload

# base/large = BERT-base/large (12/24 layers, 768/1024 wide, 30522-token WordPiece vocabulary).
PRESETS: dict[str, TransformerShape] = {
    "tiny": TransformerShape(layers=2, d_model=128, heads=2, d_ff=512, vocab=1000, max_positions=512),
    "base": TransformerShape(layers=12, d_model=768, heads=12, d_ff=3072, vocab=30522, max_positions=512),
    "large": TransformerShape(layers=24, d_model=1024, heads=16, d_ff=4096, vocab=30522, max_positions=512),
}
# Default sequence length: 64 keeps tiny cheap; 128 is the common BERT fine-tuning/serving length.
DEFAULT_SEQ_LEN = {"tiny": 64, "base": 128, "large": 128}
CLASSES = 2


class Bert(nn.Module):
    def __init__(self, shape: TransformerShape) -> None:
        super().__init__()
        self.tok = nn.Embedding(shape.vocab, shape.d_model)
        self.pos = nn.Embedding(shape.max_positions, shape.d_model)
        self.norm = nn.LayerNorm(shape.d_model)
        self.blocks = nn.ModuleList(Block(shape, pre_norm=False) for _ in range(shape.layers))
        self.pooler = nn.Linear(shape.d_model, shape.d_model)
        self.classifier = nn.Linear(shape.d_model, CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.norm(self.tok(ids) + self.pos(positions))
        for block in self.blocks:
            x = block(x, causal=False)
        return self.classifier(torch.tanh(self.pooler(x[:, 0])))


def build(size: str, seq_len: int | None = None) -> Workload:
    shape = PRESETS[size]
    seq = resolve_seq_len("bert", size, shape, seq_len, DEFAULT_SEQ_LEN[size])
    return token_workload("bert", size, shape, Bert(shape), seq,
                          make_targets=lambda b, g: torch.randint(0, CLASSES, (b,), generator=g),
                          loss=F.cross_entropy)
