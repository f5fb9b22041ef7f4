"""The common shape of a workload: a model, its synthetic inputs, its loss, and its size presets."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

Size = Literal["tiny", "base", "large"]
SIZES: tuple[str, ...] = ("tiny", "base", "large")

Inputs = tuple[torch.Tensor, ...]


@dataclass
class Workload:
    """A model with random weights plus everything a benchmark needs to feed and train it.

    ``make_inputs(batch, generator)`` returns the forward arguments, ``make_targets`` the labels,
    ``loss(outputs, targets)`` the training loss. ``seq_len`` is None for non-sequence models;
    ``items_per_sample`` is how many tokens one sample carries (``seq_len``) or 1.
    """

    name: str
    size: str
    model: nn.Module
    make_inputs: Callable[[int, torch.Generator], Inputs]
    make_targets: Callable[[int, torch.Generator], torch.Tensor]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    seq_len: int | None = None
    shape: dict[str, int | str] | None = None

    @property
    def items_per_sample(self) -> int:
        return self.seq_len or 1

    @property
    def item_unit(self) -> str:
        """What throughput counts besides samples: ``tokens`` for sequence models."""
        return "tokens" if self.seq_len else "samples"


def float_inputs_to(inputs: Inputs, device: torch.device | str, dtype: torch.dtype) -> Inputs:
    """Move inputs to ``device``; floating tensors also take ``dtype`` (token ids stay integer)."""
    return tuple(t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device) for t in inputs)


def cache_root() -> Path:
    """Where derived artifacts (FLOP counts, ONNX exports) are cached: $CAPPLAN_CACHE_DIR or the
    platform's user cache dir (~/.cache/capplan on Linux)."""
    import platformdirs

    return Path(os.environ.get("CAPPLAN_CACHE_DIR") or platformdirs.user_cache_dir("capplan"))
