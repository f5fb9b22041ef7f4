"""The inference backend plugin interface and the check that a backend computes what eager torch does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from capplan.workloads.base import Inputs, Workload

# Stated tolerances for backend-vs-eager output checks (np.allclose: |a - b| <= atol + rtol * |b|).
# fp32: ONNX Runtime fuses and reorders reductions (GEMM, LayerNorm, softmax), so bitwise equality is
# not expected, but differences stay near fp32 rounding of the ~1-magnitude logits. bf16/fp16 carry
# 8/11 significant bits; one rounding step is ~0.4%/0.05%, accumulated over the layers of a model.
TOLERANCES: dict[str, tuple[float, float]] = {
    "fp32": (1e-3, 1e-4),
    "tf32": (1e-2, 1e-2),
    "fp16": (1e-2, 1e-2),
    "bf16": (5e-2, 5e-2),
}


class OutputMismatchError(RuntimeError):
    """A backend's outputs differ from eager torch beyond the stated tolerance."""


@dataclass(frozen=True)
class LoadRequest:
    """What a backend loads: the workload (model in eval mode, on its device and dtype) and its identity."""

    workload: Workload
    device: str
    dtype: str
    example: Inputs


class Backend(Protocol):
    """Runs a workload's forward pass. Adding a backend = one module + one line in BACKENDS."""

    name: ClassVar[str]

    def load(self, request: LoadRequest) -> dict[str, Any]:
        """Prepare the model (compile, export, open a session); returns facts to store (e.g. load_s)."""
        ...

    def prepare(self, inputs: Inputs) -> Any:
        """Convert inputs to what ``run_once`` takes (device tensors, numpy arrays) outside the timing."""
        ...

    def warmup(self, prepared: Any) -> float:
        """First calls for a new input shape (compilation, allocator, kernel selection); returns seconds."""
        ...

    def run_once(self, prepared: Any) -> Any:
        """One forward pass; returns the backend's outputs."""
        ...

    def sync(self) -> None:
        """Wait for queued device work (called before every clock read)."""
        ...

    def to_numpy(self, outputs: Any) -> np.ndarray:
        """The first output as a float32 host array."""
        ...

    def teardown(self) -> None:
        """Release sessions and compiled graphs."""
        ...


def check_outputs(backend: str, got: np.ndarray, want: np.ndarray, dtype: str, rtol: float | None = None,
                  atol: float | None = None) -> dict[str, float]:
    """Raise OutputMismatchError unless ``np.allclose(got, want)`` within the dtype's tolerance.

    Returns the tolerance used and the observed max absolute difference, to store with the record.
    """
    default_rtol, default_atol = TOLERANCES[dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if got.shape != want.shape:
        raise OutputMismatchError(f"{backend}: output shape {got.shape} differs from eager {want.shape}")
    max_abs = float(np.max(np.abs(got - want))) if got.size else 0.0
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        raise OutputMismatchError(
            f"{backend}: outputs differ from eager torch beyond rtol={rtol:g}, atol={atol:g} "
            f"(max |diff| = {max_abs:.3g}); not timing a backend that computes something else"
        )
    return {"verify_rtol": rtol, "verify_atol": atol, "verify_max_abs_diff": max_abs}
