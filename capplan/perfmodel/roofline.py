"""Roofline time per phase: a phase takes max(FLOPs / peak, bytes / bandwidth) on ideal hardware.

Phases per task, for one step of ``batch`` samples:
- infer: one forward pass (weights read once, activations read+written).
- train: forward + backward (FLOPs measured or 3x forward); weights read twice, gradients written,
  optimizer update traffic, activations written forward and read backward.
- generate: prefill (the prompt, like infer) and one decode step at the mean context length
  (weights and the KV cache read per new token): decode is what makes LLM serving memory-bound.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from capplan.catalog import Accelerator
from capplan.errors import UserError
from capplan.perfmodel.workloads import DTYPE_BYTES, WorkloadDesc

# Adam update traffic per parameter: read fp32 master weight, m, v and the gradient (16 B), write
# master, m, v (12 B) and the working-precision weight (<= 4 B): ~32 B, the mixed-precision recipe
# of Micikevicius et al. 2018 with Adam state in fp32.
ADAM_TRAFFIC_BYTES_PER_PARAM = 32.0

Bound = Literal["compute", "memory"]


class PhaseTime(BaseModel):
    """One phase of one step on one device group at 100% of peak."""

    name: str
    flops: float
    bytes: float
    compute_ms: float
    memory_ms: float
    items: float
    item_unit: str

    @property
    def ideal_ms(self) -> float:
        return max(self.compute_ms, self.memory_ms)

    @property
    def bound(self) -> Bound:
        return "compute" if self.compute_ms >= self.memory_ms else "memory"


def peak_flops(acc: Accelerator, dtype: str) -> float:
    """Dense peak in FLOP/s for ``dtype``; tf32 falls back to fp32 where no tensor TF32 exists."""
    tflops = acc.peak_tflops(dtype) or (acc.fp32_tflops if dtype == "tf32" else None)
    if not tflops:
        have = [d for d in DTYPE_BYTES if acc.peak_tflops(d)]
        raise UserError(
            f"{acc.name}: no cited {dtype} peak in the catalog; dtypes with a peak: "
            f"{', '.join(have) or 'none'}"
        )
    return tflops * 1e12


def phase_times(desc: WorkloadDesc, acc: Accelerator, devices: int = 1) -> list[PhaseTime]:
    """Ideal time of each phase of one step, with ``devices`` sharing the work (compute and bandwidth add
    up)."""
    if desc.task == "generate" and desc.kv_elems_per_token is None:
        raise UserError(
            f"workload {desc.name!r}: task generate needs a decoder with a KV cache (gpt2, llama-7b...)"
        )
    if not acc.mem_bw_gbps:
        raise UserError(f"{acc.name}: no cited memory bandwidth in the catalog; cannot project onto it")
    flops_s = peak_flops(acc, desc.dtype) * devices
    bytes_s = acc.mem_bw_gbps * 1e9 * devices
    nbytes = DTYPE_BYTES[desc.dtype]
    weights = desc.param_count * nbytes
    b = desc.batch

    def phase(name: str, flops: float, moved: float, items: float, unit: str) -> PhaseTime:
        return PhaseTime(name=name, flops=flops, bytes=moved, compute_ms=1e3 * flops / flops_s,
                         memory_ms=1e3 * moved / bytes_s, items=items, item_unit=unit)

    if desc.task == "train":
        moved = (
            3 * weights
            + desc.param_count * ADAM_TRAFFIC_BYTES_PER_PARAM
            + 2 * b * desc.io_elems_per_sample * nbytes
        )
        return [phase("train_step", b * desc.train_flops, moved, b, "samples")]
    forward = phase("prefill" if desc.task == "generate" else "forward", b * desc.flops_per_sample,
                    weights + b * desc.io_elems_per_sample * nbytes, b, "samples")
    if desc.task != "generate":
        return [forward]
    seq, gen = desc.seq_len or 1, desc.decode_tokens
    mean_ctx = seq + gen / 2
    kv_bytes = b * mean_ctx * (desc.kv_elems_per_token or 0) * nbytes
    decode = phase("decode", b * desc.decode_flops_per_token, weights + kv_bytes, b, "tokens")
    return [forward, decode]


def step_ms(phases: list[PhaseTime], desc: WorkloadDesc) -> float:
    """Ideal time of one full step: generate = prefill + gen_tokens decode steps."""
    if desc.task == "generate":
        return phases[0].ideal_ms + desc.decode_tokens * phases[1].ideal_ms
    return sum(p.ideal_ms for p in phases)


def headline_phase(phases: list[PhaseTime]) -> PhaseTime:
    """The phase whose rate is reported: decode for generate, else the only phase."""
    return phases[-1]
