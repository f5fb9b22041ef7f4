"""DLRM-like recommender (Naumov et al. 2019): bottom MLP on dense features, embedding lookups for
sparse features, pairwise dot-product interaction, top MLP to one click logit.

``base`` uses the MLPerf DLRM (Criteo 1TB) MLP widths and 26 tables of dimension 128, with each table
capped at 100k rows (the real tables reach 40 M rows, ~100 GB) so it fits a workstation; ``large``
caps at 500k rows (~6.7 GB fp32). The tables are stored as one concatenated embedding with per-table
row offsets (as fused TorchRec/FBGEMM kernels do); lookups are uniform random (real traffic is skewed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from capplan.workloads.base import Workload

DENSE_FEATURES = 13  # Criteo's integer features


@dataclass(frozen=True)
class DlrmShape:
    tables: int
    rows: int
    dim: int
    bottom: tuple[int, ...]
    top: tuple[int, ...]

    def as_dict(self) -> dict[str, int | str]:
        return {
            "tables": self.tables,
            "rows_per_table": self.rows,
            "embedding_dim": self.dim,
            "bottom_mlp": "-".join(map(str, self.bottom)),
            "top_mlp": "-".join(map(str, self.top)),
        }


PRESETS: dict[str, DlrmShape] = {
    "tiny": DlrmShape(tables=4, rows=1000, dim=16, bottom=(64, 16), top=(64, 1)),
    "base": DlrmShape(
        tables=26, rows=100_000, dim=128, bottom=(512, 256, 128), top=(1024, 1024, 512, 256, 1)
    ),
    "large": DlrmShape(
        tables=26, rows=500_000, dim=128, bottom=(512, 256, 128), top=(1024, 1024, 512, 256, 1)
    ),
}


def _mlp(dims: tuple[int, ...], last_relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if last_relu or i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Dlrm(nn.Module):
    def __init__(self, shape: DlrmShape) -> None:
        super().__init__()
        if shape.bottom[-1] != shape.dim:
            raise ValueError("the bottom MLP must end at the embedding dimension")
        self.shape = shape
        self.bottom = _mlp((DENSE_FEATURES, *shape.bottom), last_relu=True)
        self.embedding = nn.Embedding(shape.tables * shape.rows, shape.dim)
        self.register_buffer("offsets", torch.arange(shape.tables) * shape.rows, persistent=False)
        vectors = shape.tables + 1
        self.register_buffer("pairs", torch.tril_indices(vectors, vectors, offset=-1), persistent=False)
        self.top = _mlp((shape.dim + vectors * (vectors - 1) // 2, *shape.top), last_relu=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        x = self.bottom(dense)
        z = torch.cat([x.unsqueeze(1), self.embedding(sparse + self.offsets)], dim=1)
        dots = torch.bmm(z, z.transpose(1, 2))[:, self.pairs[0], self.pairs[1]]
        return self.top(torch.cat([x, dots], dim=1)).squeeze(1)


def build(size: str, seq_len: int | None = None) -> Workload:
    shape = PRESETS[size]
    return Workload(
        name="dlrm",
        size=size,
        model=Dlrm(shape),
        make_inputs=lambda b, g: (
            torch.randn(b, DENSE_FEATURES, generator=g),
            torch.randint(0, shape.rows, (b, shape.tables), generator=g),
        ),
        make_targets=lambda b, g: torch.randint(0, 2, (b,), generator=g).float(),
        loss=F.binary_cross_entropy_with_logits,
        shape=shape.as_dict(),
    )
