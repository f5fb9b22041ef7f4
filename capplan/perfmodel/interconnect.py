"""Collective time of a model sharded over several devices (tensor and pipeline parallelism).

Tensor parallelism (Megatron-LM, Shoeybi et al. 2019) splits every layer over ``tp`` devices of one
node and all-reduces the tokens x d_model activations twice per layer (after attention and after the
FFN); a ring all-reduce moves 2 (tp - 1) / tp of the message each way over each device's link.
Pipeline parallelism splits the layers into ``pp`` stages across nodes and sends the activations
once from stage to stage. Collectives are not overlapped with compute (the conservative case).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.catalog import Accelerator
from capplan.perfmodel.desc import WorkloadDesc

# Devices one scale-up fabric (NVLink/NVSwitch, Infinity Fabric) joins: an 8-GPU HGX/OAM baseboard.
NODE_DEVICES = 8
# Fixed cost per collective: small-message all-reduce latency on NVLink-class fabrics is of the order
# of 10 us (nccl-tests latency at small sizes); an ASSUMPTION, it only matters for decode steps.
COLLECTIVE_LATENCY_S = 10e-6
# PCIe x16, GB/s each way (PCI-SIG rates: 16/32/64 GT/s per lane for Gen 4/5/6, ~1 GB/s per GT/s x16 / 8).
PCIE_GBPS_PER_DIRECTION = {3: 16.0, 4: 32.0, 5: 64.0, 6: 128.0}
DEFAULT_PCIE_GEN = 4
# Between nodes: one 400 Gb/s NIC per GPU (DGX H100/B200 reference design) = 50 GB/s each way.
INTER_NODE_GBPS_PER_DEVICE = 50.0
# Collectives carry 16-bit activations (TensorRT-LLM/Megatron all-reduce in bf16/fp16).
ACTIVATION_COMM_BYTES = 2


@dataclass(frozen=True)
class Parallelism:
    """How one replica is sharded: ``tp`` devices per stage, ``pp`` pipeline stages."""

    tp: int = 1
    pp: int = 1

    @property
    def devices(self) -> int:
        return self.tp * self.pp

    @classmethod
    def for_devices(cls, devices: int) -> Parallelism:
        """Tensor parallel inside a node; pipeline stages across nodes when one node is not enough."""
        pp = math.ceil(devices / NODE_DEVICES)
        while devices % pp:
            pp += 1
        return cls(tp=devices // pp, pp=pp)


def link_gbps(acc: Accelerator) -> float:
    """Device-to-device bandwidth each way: half the catalog's bidirectional figure, else PCIe x16."""
    if acc.interconnect_gbps:
        return acc.interconnect_gbps / 2
    return PCIE_GBPS_PER_DIRECTION.get(
        acc.pcie_gen or DEFAULT_PCIE_GEN, PCIE_GBPS_PER_DIRECTION[DEFAULT_PCIE_GEN]
    )


def collective_ms(
    desc: WorkloadDesc, acc: Accelerator, par: Parallelism, tokens: float, passes: int = 1
) -> float:
    """Collective time of one pass over ``tokens`` tokens (``passes`` = 2 for forward + backward).

    Per device per step, a stage runs layers / pp layers, each with two all-reduces, plus one
    point-to-point send of the activations to the next stage. Workloads without a known layer count
    and width (convolutional nets, measured records) are treated as data parallel: no collectives.
    """
    if par.devices <= 1 or not desc.layers or not desc.d_model:
        return 0.0
    message = tokens * desc.d_model * ACTIVATION_COMM_BYTES
    seconds = 0.0
    if par.tp > 1:
        ring = 2 * (par.tp - 1) / par.tp * message / (link_gbps(acc) * 1e9)
        seconds += 2 * desc.layers / par.pp * (COLLECTIVE_LATENCY_S + ring)
    if par.pp > 1:
        seconds += COLLECTIVE_LATENCY_S + message / (INTER_NODE_GBPS_PER_DEVICE * 1e9)
    return 1e3 * seconds * passes
