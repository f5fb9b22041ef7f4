"""ResNet with bottleneck blocks: ``base`` is ResNet-50 (He et al. 2015, 25.6 M parameters)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from capplan.workloads.base import Workload

# (blocks per stage, stem width, image side, classes): base = ResNet-50, large = ResNet-101.
PRESETS: dict[str, tuple[tuple[int, ...], int, int, int]] = {
    "tiny": ((1, 1, 1, 1), 16, 32, 10),
    "base": ((3, 4, 6, 3), 64, 224, 1000),
    "large": ((3, 4, 23, 3), 64, 224, 1000),
}
EXPANSION = 4


class Bottleneck(nn.Module):
    def __init__(self, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        out_ch = width * EXPANSION
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, blocks: tuple[int, ...], stem: int, classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        layers: list[nn.Module] = []
        in_ch = stem
        for stage, n in enumerate(blocks):
            width = stem * 2**stage
            for i in range(n):
                layers.append(Bottleneck(in_ch, width, stride=2 if i == 0 and stage > 0 else 1))
                in_ch = width * EXPANSION
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(in_ch, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(size: str, seq_len: int | None = None) -> Workload:
    blocks, stem, side, classes = PRESETS[size]
    return Workload(
        name="resnet",
        size=size,
        model=ResNet(blocks, stem, classes),
        make_inputs=lambda b, g: (torch.randn(b, 3, side, side, generator=g),),
        make_targets=lambda b, g: torch.randint(0, classes, (b,), generator=g),
        loss=F.cross_entropy,
        shape={
            "blocks": "-".join(map(str, blocks)),
            "stem_width": stem,
            "image_side": side,
            "classes": classes,
        },
    )
