"""Work and memory facts of a workload: FLOPs (torch.utils.flop_counter), parameter and activation bytes.

Counting runs on the ``meta`` device: shapes propagate, nothing is computed or allocated, so facts of
a ``large`` model cost milliseconds. Per-sample figures are counted on a batch of ``COUNT_BATCH`` and
divided.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
from importlib import import_module

import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from capplan.workloads import WorkloadParams, base, builder, transformer
from capplan.workloads.base import Inputs, Workload, cache_root

COUNT_BATCH = 2

# torch's counter knows the CUDA attention kernels but not the CPU flash kernel SDPA dispatches to here;
# map it to the same formulas (attention counted over the full S x S score matrix, causal or not).
_aten = torch.ops.aten
_CPU_SDPA = {
    _aten._scaled_dot_product_flash_attention_for_cpu: flop_counter.sdpa_flop.__wrapped__,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: flop_counter.sdpa_backward_flop.__wrapped__,
}


def flop_counter_mode() -> FlopCounterMode:
    """A silent FlopCounterMode that also counts CPU scaled-dot-product attention."""
    return FlopCounterMode(display=False, custom_mapping=_CPU_SDPA)


def forward_flops(model: torch.nn.Module, inputs: Inputs) -> int:
    """FLOPs of one forward pass over ``inputs`` (matmul/conv/attention; a multiply-add counts 2)."""
    with torch.no_grad(), flop_counter_mode() as counter:
        model(*inputs)
    return int(counter.get_total_flops())


def train_flops(workload: Workload, inputs: Inputs, targets: torch.Tensor) -> int:
    """FLOPs of forward + backward (the optimizer step is elementwise and not counted)."""
    with flop_counter_mode() as counter:
        workload.loss(workload.model(*inputs), targets).backward()
    workload.model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def _storage_id(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata  # one id per storage, also on the meta device (where data_ptr is 0)


def saved_activation_bytes(workload: Workload, inputs: Inputs, targets: torch.Tensor) -> int:
    """Bytes autograd keeps for backward (tensors saved by the forward pass, parameters excluded)."""
    seen = {_storage_id(p) for p in workload.model.parameters()}
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        sid = _storage_id(t)
        if sid not in seen:
            seen.add(sid)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        workload.loss(workload.model(*inputs), targets)
    return total


def param_count(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


def workload_facts(params: WorkloadParams) -> dict[str, int | float]:
    """Per-sample FLOPs (inference; training = forward + backward), fp32 parameter count and bytes, and
    the fp32 bytes autograd saves per sample, counted on a meta-device copy of the workload.

    Cached as JSON under the cache dir, keyed by the choice, the torch version and the source of the
    workload modules (an edited model is recounted); counting imports torch's tracing stack (~2 s).
    """
    key = {"params": params.model_dump(), "torch": torch.__version__, "code": _code_digest(params.model)}
    path = (
        cache_root()
        / "facts"
        / f"{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.json"
    )
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_text())
    facts = count_facts(params)
    with contextlib.suppress(OSError):  # a read-only cache only costs the recount next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(facts))
        tmp.replace(path)
    return facts


def _code_digest(model: str) -> str:
    h = hashlib.sha256()
    for module in (import_module(f"capplan.workloads.{model}"), import_module(__name__), base, transformer):
        h.update(inspect.getsource(module).encode())
    return h.hexdigest()[:16]


def count_facts(params: WorkloadParams) -> dict[str, int | float]:
    """``workload_facts`` without the cache."""
    with torch.device("meta"):
        workload = builder(params.model)(params.size, params.seq_len)
        g = torch.Generator()
        inputs = workload.make_inputs(COUNT_BATCH, g)
        targets = workload.make_targets(COUNT_BATCH, g)
    workload.model.train()
    train = train_flops(workload, inputs, targets)
    activations = saved_activation_bytes(workload, inputs, targets)
    workload.model.eval()
    count = param_count(workload.model)
    return {
        "flops_per_sample": forward_flops(workload.model, inputs) / COUNT_BATCH,
        "train_flops_per_sample": train / COUNT_BATCH,
        "param_count": count,
        "param_bytes": count * 4,
        "activation_bytes_per_sample": activations / COUNT_BATCH,
    }
