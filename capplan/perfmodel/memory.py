"""Memory fit: bytes a workload needs on the device vs device memory -> minimum devices.

- infer: weights + the largest activation working set of the batch.
- generate: weights + KV cache for batch x (prompt + new tokens) + working set.
- train: weights + gradients + Adam state + activations saved for backward.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from capplan.catalog import Accelerator
from capplan.perfmodel.workloads import DTYPE_BYTES, WorkloadDesc

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


def memory_fit(desc: WorkloadDesc, acc: Accelerator) -> MemoryFit:
    """Memory one replica of ``desc`` needs, and the devices of ``acc`` it takes (1 when memory is
    unknown)."""
    nbytes = DTYPE_BYTES[desc.dtype]
    weights = desc.param_count * nbytes
    state = 0.0
    if desc.task == "train":
        master = MASTER_WEIGHT_BYTES if nbytes < 4 else 0.0
        state = desc.param_count * (nbytes + ADAM_STATE_BYTES_FP32 + master)  # gradients + optimizer state
        acts = desc.batch * desc.saved_elems_per_sample * nbytes
    else:
        acts = desc.batch * desc.live_elems_per_sample * nbytes
        if desc.task == "generate":
            tokens = (desc.seq_len or 1) + desc.decode_tokens
            state = desc.batch * tokens * (desc.kv_elems_per_token or 0) * nbytes
    required = weights + state + acts
    device = acc.memory_gib * 2**30 if acc.memory_gib else None
    devices = 1 if device is None else max(1, math.ceil(required / (device * USABLE_MEMORY_FRACTION)))
    return MemoryFit(required_bytes=required, weights_bytes=weights, state_bytes=state, activation_bytes=acts,
                     device_bytes=device, min_devices=devices)


def max_concurrent_sequences(
    desc: WorkloadDesc, acc: Accelerator, devices: int, tokens_per_sequence: int
) -> int:
    """Sequences of ``tokens_per_sequence`` tokens (prompt + output) whose KV cache fits beside the weights on
    ``devices`` x ``acc``: (usable memory - weights) / KV bytes per sequence, as vLLM sizes its KV-cache
    blocks (0 when the weights alone do not fit). ``desc`` must be a decoder (kv_elems_per_token set);
    ``acc`` must state its memory."""
    if desc.kv_elems_per_token is None or not acc.memory_gib:
        raise ValueError(f"{desc.name} on {acc.name}: needs a decoder's KV size and the device memory")
    nbytes = DTYPE_BYTES[desc.dtype]
    usable = acc.memory_gib * 2**30 * USABLE_MEMORY_FRACTION * devices
    free = usable - desc.param_count * nbytes
    per_sequence = tokens_per_sequence * desc.kv_elems_per_token * nbytes
    return max(0, math.floor(free / per_sequence))
