"""Roofline time per phase: max(FLOPs / peak, bytes / bandwidth) + collective time, on ideal hardware.

Phases per task, for one step of ``batch`` samples on one replica (``devices`` sharing the model):
- infer: one forward pass (weights streamed ``weight_passes`` times, activations read+written,
  embedding rows gathered).
- train: forward + backward (FLOPs measured or 3x forward); weights read three times, Adam update
  traffic, activations written forward and read backward.
- generate: prefill (the prompt, like infer) and one decode step at the mean context length
  (weights and the KV cache read per new token): decode is what makes LLM serving memory-bound.
A replica over several devices pays for tensor parallelism (interconnect.py); their compute and
bandwidth add up.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from capplan.catalog import Accelerator
from capplan.errors import UserError
from capplan.perfmodel.desc import DTYPE_BYTES, WorkloadDesc
from capplan.perfmodel.interconnect import Parallelism, collective_ms

# Adam update traffic per parameter: read fp32 master weight, m, v and the gradient (16 B), write
# master, m, v (12 B) and the working-precision weight (<= 4 B): ~32 B, the mixed-precision recipe
# of Micikevicius et al. 2018 with Adam state in fp32.
ADAM_TRAFFIC_BYTES_PER_PARAM = 32.0
# A precision without a cited peak runs at the next wider one: 4-bit weights with 8-bit matmuls (W4A8),
# 8-bit weights dequantised to 16-bit matmuls (W8A16), TF32 on the FP32 units. The calibrated
# efficiency absorbs what the wider peak misses (it can exceed 1 where the device has a faster path).
PEAK_FALLBACK = {"fp4": "fp8", "int4": "int8", "fp8": "bf16", "tf32": "fp32"}

Bound = Literal["compute", "memory"]


class PhaseTime(BaseModel):
    """One phase of one step on one device group at 100% of peak."""

    name: str
    flops: float
    bytes: float
    compute_ms: float
    memory_ms: float
    comm_ms: float = 0.0
    items: float
    item_unit: str

    @property
    def ideal_ms(self) -> float:
        return max(self.compute_ms, self.memory_ms) + self.comm_ms

    @property
    def bound(self) -> Bound:
        return "compute" if self.compute_ms >= self.memory_ms else "memory"


def peak_dtype(acc: Accelerator, dtype: str) -> str:
    """The precision whose cited peak ``dtype`` runs at on ``acc`` (itself, or a wider fallback)."""
    seen = dtype
    while not acc.peak_tflops(seen) and seen in PEAK_FALLBACK:
        seen = PEAK_FALLBACK[seen]
    if not acc.peak_tflops(seen):
        have = [d for d in DTYPE_BYTES if acc.peak_tflops(d)]
        raise UserError(
            f"{acc.name}: no cited {dtype} peak in the catalog; dtypes with a peak: "
            f"{', '.join(have) or 'none'}"
        )
    return seen


def peak_flops(acc: Accelerator, dtype: str) -> float:
    """Dense peak in FLOP/s for ``dtype`` (or the wider precision it falls back to)."""
    return float(acc.peak_tflops(peak_dtype(acc, dtype)) or 0) * 1e12


def phase_times(
    desc: WorkloadDesc, acc: Accelerator, devices: int = 1, parallel: Parallelism | None = None
) -> list[PhaseTime]:
    """Ideal time of each phase of one step, with ``devices`` sharing one replica."""
    if desc.task == "generate" and desc.kv_elems_per_token is None:
        raise UserError(
            f"workload {desc.name!r}: task generate needs a decoder with a KV cache (gpt2, llama2-70b...)"
        )
    if not acc.mem_bw_gbps:
        raise UserError(f"{acc.name}: no cited memory bandwidth in the catalog; cannot project onto it")
    par = parallel or Parallelism.for_devices(devices)
    flops_s = peak_flops(acc, desc.dtype) * par.devices
    bytes_s = acc.mem_bw_gbps * 1e9 * par.devices
    nbytes = DTYPE_BYTES[desc.dtype]
    act = desc.cache_bytes()
    b = desc.batch
    seq = desc.seq_len or 1

    def phase(
        name: str, flops: float, moved: float, items: float, unit: str, tokens: float, passes: int = 1
    ) -> PhaseTime:
        return PhaseTime(
            name=name,
            flops=flops,
            bytes=moved,
            compute_ms=1e3 * flops / flops_s,
            memory_ms=1e3 * moved / bytes_s,
            comm_ms=collective_ms(desc, acc, par, tokens, passes),
            items=items,
            item_unit=unit,
        )

    if desc.task == "train":
        tokens = b * seq
        moved = (
            3 * desc.streamed_params(tokens) * nbytes
            + (desc.param_count - desc.sparse_param_count) * ADAM_TRAFFIC_BYTES_PER_PARAM
            + 2 * b * desc.io_elems_per_sample * act
            + b * desc.lookup_elems_per_sample * nbytes
        )
        return [phase("train_step", b * desc.train_flops, moved, b, "samples", tokens, passes=2)]
    weights = desc.streamed_params(b * seq) * nbytes * desc.weight_passes
    forward = phase(
        "prefill" if desc.task == "generate" else "forward",
        b * desc.flops_per_sample,
        weights + b * (desc.io_elems_per_sample * act + desc.lookup_elems_per_sample * nbytes),
        b,
        "samples",
        b * seq,
    )
    if desc.task != "generate":
        return [forward]
    mean_ctx = desc.mean_context()
    kv = b * (mean_ctx * (desc.kv_elems_per_token or 0) + desc.kv_fixed_elems_per_sequence) * act
    decode = phase(
        "decode",
        b * desc.decode_flops_per_token(mean_ctx),
        desc.decode_streamed_params(b) * nbytes + kv,
        b,
        "tokens",
        b,
    )
    return [forward, decode]


def step_ms(phases: list[PhaseTime], desc: WorkloadDesc) -> float:
    """Ideal time of one full step: generate = prefill + gen_tokens decode steps."""
    if desc.task == "generate":
        return phases[0].ideal_ms + desc.decode_tokens * phases[1].ideal_ms
    return sum(p.ideal_ms for p in phases)


def step_items(desc: WorkloadDesc) -> tuple[float, str]:
    """What one step delivers: generated tokens (or finished samples) for generate, samples otherwise."""
    if desc.task == "generate" and desc.throughput_item == "tokens":
        return desc.batch * desc.decode_tokens, "tokens"
    return float(desc.batch), "samples"


def headline_phase(phases: list[PhaseTime]) -> PhaseTime:
    """The phase that bounds the step most: decode for generate, else the only phase."""
    return phases[-1]
