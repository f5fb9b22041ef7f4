"""Plain MLP for smoke tests: Linear + ReLU stacks, classification loss."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from capplan.workloads.base import Workload

# (input features, hidden widths, classes). base/large are round sizes, not a published model.
PRESETS: dict[str, tuple[int, tuple[int, ...], int]] = {
    "tiny": (256, (512, 512), 10),
    "base": (1024, (4096, 4096), 1000),
    "large": (4096, (16384, 16384), 1000),
}


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: tuple[int, ...], classes: int) -> None:
        super().__init__()
        dims = (in_features, *hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.head = nn.Linear(dims[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.head(x)


def build(size: str, seq_len: int | None = None) -> Workload:
    in_features, hidden, classes = PRESETS[size]
    return Workload(
        name="mlp",
        size=size,
        model=MLP(in_features, hidden, classes),
        make_inputs=lambda b, g: (torch.randn(b, in_features, generator=g),),
        make_targets=lambda b, g: torch.randint(0, classes, (b,), generator=g),
        loss=F.cross_entropy,
        shape={"in_features": in_features, "hidden": "x".join(map(str, hidden)), "classes": classes},
    )
