"""Eager PyTorch: the reference every other backend is checked against."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch

from capplan.harness.backends.base import LoadRequest
from capplan.harness.device import torch_device
from capplan.workloads import torch_dtype
from capplan.workloads.base import Inputs, float_inputs_to


class EagerBackend:
    name: ClassVar[str] = "eager"
    warmup_calls: ClassVar[int] = 1  # the timing engine warms up further; this only fills caches

    def load(self, request: LoadRequest) -> dict[str, Any]:
        self.device = torch_device(request.device)
        self.dtype = torch_dtype(request.dtype)
        self.fn: Any = request.workload.model
        return {}

    def prepare(self, inputs: Inputs) -> Inputs:
        return float_inputs_to(inputs, self.device, self.dtype)

    def warmup(self, prepared: Inputs) -> float:
        t0 = time.perf_counter()
        for _ in range(self.warmup_calls):
            self.run_once(prepared)
        self.sync()
        return time.perf_counter() - t0

    def run_once(self, prepared: Inputs) -> torch.Tensor:
        with torch.inference_mode():
            return self.fn(*prepared)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def to_numpy(self, outputs: torch.Tensor) -> np.ndarray:
        return outputs.float().cpu().numpy()

    def teardown(self) -> None:
        self.fn = None
