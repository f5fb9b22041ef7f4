"""Workloads defined in code (random weights, synthetic inputs): resnet, bert, gpt, dlrm, mlp.

``WorkloadParams`` is the typed model choice every model benchmark kind embeds; ``build_workload``
seeds torch and constructs the model with its input generators.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from capplan.workloads.base import SIZES, Workload

ModelName = Literal["resnet", "bert", "gpt", "dlrm", "mlp"]
MODELS: tuple[str, ...] = ("resnet", "bert", "gpt", "dlrm", "mlp")

# dtype name -> torch dtype of weights and floating inputs; tf32 is fp32 storage with TF32 matmuls.
TORCH_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "tf32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


class WorkloadParams(BaseModel):
    """Which model to run and how big."""

    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(description="workload: resnet, bert, gpt, dlrm or mlp")
    size: Literal["tiny", "base", "large"] = Field(
        "tiny", description="tiny (CI), base (published shape), large"
    )
    seq_len: int | None = Field(
        None, ge=1, description="tokens per sample for bert/gpt; model default when omitted"
    )


def builder(model: str) -> Callable[[str, int | None], Workload]:
    """The ``build(size, seq_len)`` function of a workload module."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODELS)}")
    return import_module(f"capplan.workloads.{model}").build


def build_workload(params: WorkloadParams, seed: int) -> Workload:
    """Build the workload with weights drawn after ``torch.manual_seed(seed)``."""
    if params.size not in SIZES:
        raise ValueError(f"unknown size {params.size!r}; allowed: {', '.join(SIZES)}")
    torch.manual_seed(seed)
    return builder(params.model)(params.size, params.seq_len)


def torch_dtype(name: str) -> torch.dtype:
    """Torch dtype for a spec dtype name; raises ValueError naming the allowed ones."""
    try:
        return TORCH_DTYPES[name]
    except KeyError:
        raise ValueError(
            f"dtype {name!r} is not supported by model benchmarks; allowed: {', '.join(TORCH_DTYPES)}"
        ) from None
