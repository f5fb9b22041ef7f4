"""Inference backends (torch eager, torch.compile, ONNX Runtime): name -> "module:Class", imported lazily."""

from __future__ import annotations

import importlib

import torch

from capplan.harness.backends.base import Backend
from capplan.workloads import torch_dtype
from capplan.workloads.base import Workload

BACKENDS: dict[str, str] = {
    "eager": "capplan.harness.backends.torch_eager:EagerBackend",
    "compile": "capplan.harness.backends.torch_compile:CompileBackend",
    "onnxruntime": "capplan.harness.backends.onnxrt:OrtBackend",
    "onnxruntime-tensorrt": "capplan.harness.backends.onnxrt:OrtTensorrtBackend",
}


def get_backend(name: str) -> Backend:
    """A new backend instance; ValueError naming the allowed backends for an unknown name."""
    if name not in BACKENDS:
        raise ValueError(f"backend {name!r} is not known; allowed: {', '.join(BACKENDS)}")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def place_model(workload: Workload, device: str, dtype: str, train: bool = False) -> None:
    """Move the model to ``device``/``dtype`` (inference) or ``device`` only (training keeps fp32
    master weights; AMP casts per op), set train/eval mode, and enable TF32 for ``tf32``."""
    if device.startswith("cuda"):
        tf32 = dtype == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    if train:
        workload.model.to(device=device)
    else:
        workload.model.to(device=device, dtype=torch_dtype(dtype))
    workload.model.train(train)
