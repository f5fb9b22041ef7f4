"""Memory fit: bytes a workload needs on the device vs device memory -> minimum devices.

- infer: weights + the largest activation working set of the batch.
- generate: weights + KV cache for batch x (prompt + new tokens) (+ any fixed cross-attention cache)
  + working set.
- train: weights + gradients + Adam state + activations saved for backward by one micro-batch
  (gradient accumulation frees them before the next one).
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from capplan.catalog import Accelerator
from capplan.perfmodel.desc import DTYPE_BYTES, WorkloadDesc

# Adam keeps two fp32 moments (8 B/param); below fp32 it also keeps an fp32 master copy (4 B/param).
ADAM_STATE_BYTES_FP32 = 8.0
MASTER_WEIGHT_BYTES = 4.0
# Share of device memory a workload can use: the CUDA context, allocator fragmentation and
# framework workspaces take the rest (vLLM's default gpu_memory_utilization is 0.9 for this reason).
USABLE_MEMORY_FRACTION = 0.9


class MemoryFit(BaseModel):
    """Bytes needed per replica and how many devices that takes."""

    required_bytes: float
    weights_bytes: float
    state_bytes: float
    activation_bytes: float
    device_bytes: float | None
    min_devices: int

    @property
    def required_gib(self) -> float:
        return self.required_bytes / 2**30


def kv_bytes_per_sequence(desc: WorkloadDesc, tokens_per_sequence: float) -> float:
    """KV-cache bytes one sequence of ``tokens_per_sequence`` tokens holds (generate)."""
    elems = tokens_per_sequence * (desc.kv_elems_per_token or 0) + desc.kv_fixed_elems_per_sequence
    return elems * desc.cache_bytes()


def memory_fit(desc: WorkloadDesc, acc: Accelerator) -> MemoryFit:
    """Memory one replica of ``desc`` needs, and the devices of ``acc`` it takes (1 when memory is
    unknown)."""
    nbytes = DTYPE_BYTES[desc.dtype]
    act = desc.cache_bytes()
    weights = desc.param_count * nbytes
    state = 0.0
    if desc.task == "train":
        master = MASTER_WEIGHT_BYTES if nbytes < 4 else 0.0
        state = desc.param_count * (nbytes + ADAM_STATE_BYTES_FP32 + master)  # gradients + optimizer state
        acts = (desc.micro_batch or desc.batch) * desc.saved_elems_per_sample * act
    else:
        acts = desc.batch * desc.live_elems_per_sample * act
        if desc.task == "generate":
            state = desc.batch * kv_bytes_per_sequence(desc, desc.prompt_kv_tokens + desc.decode_tokens)
    required = weights + state + acts
    device = acc.memory_gib * 2**30 if acc.memory_gib else None
    devices = 1 if device is None else max(1, math.ceil(required / (device * USABLE_MEMORY_FRACTION)))
    return MemoryFit(
        required_bytes=required,
        weights_bytes=weights,
        state_bytes=state,
        activation_bytes=acts,
        device_bytes=device,
        min_devices=devices,
    )


def max_concurrent_sequences(
    desc: WorkloadDesc, acc: Accelerator, devices: int, tokens_per_sequence: int
) -> int:
    """Sequences one replica on ``devices`` x ``acc`` can hold at once: usable memory less the weights and
    one sequence's activation working set, divided by the KV-cache bytes of a ``tokens_per_sequence``
    sequence. 0 when the weights do not fit; a large number when device memory is unknown."""
    per_sequence = kv_bytes_per_sequence(desc, tokens_per_sequence)
    if not acc.memory_gib or per_sequence <= 0:
        return 10**9
    usable = devices * acc.memory_gib * 2**30 * USABLE_MEMORY_FRACTION
    free = (
        usable - desc.param_count * DTYPE_BYTES[desc.dtype] - desc.live_elems_per_sample * desc.cache_bytes()
    )
    return max(0, int(free // per_sequence))
