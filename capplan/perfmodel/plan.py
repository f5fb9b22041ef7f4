"""How a workload runs on ``count`` devices: shards per replica, replicas, batch, and the ideal step.

Without a scenario the batch is the one given and each replica takes the fewest devices its memory
allows (rounded up to a divisor of ``count``). For MLPerf-style throughput scenarios (offline, server)
the plan is what a submitter tunes: every divisor of ``count`` that holds the model is tried as the
tensor-parallel degree, the batch fills the memory left (decoders: as many concurrent sequences as the
KV cache allows at the mean
context length, at most MAX_CONCURRENT_SEQUENCES; other models: OFFLINE_NOMINAL_BATCH), and the
shard count with the highest throughput per device wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from capplan.catalog import Accelerator
from capplan.perfmodel.desc import WorkloadDesc
from capplan.perfmodel.interconnect import Parallelism
from capplan.perfmodel.memory import MemoryFit, max_concurrent_sequences, memory_fit
from capplan.perfmodel.roofline import PhaseTime, phase_times, step_items, step_ms
from capplan.perfmodel.workloads import OFFLINE_NOMINAL_BATCH

Scenario = Literal["offline", "server"]
SCENARIOS: tuple[str, ...] = ("offline", "server")
# Most sequences batched at once: NVIDIA's v5.1 closed submission runs llama2-70b Offline at
# gpu_batch_size 2048 per B200 (closed/NVIDIA/configs/B200-SXM-180GBx8/Offline/llama2-70b.py in
# github.com/ntuhpc/inference_results_v5.1, commit a634ab772637c2d940cfef45fae86553211f525b).
MAX_CONCURRENT_SEQUENCES = 2048


@dataclass(frozen=True)
class ReplicaPlan:
    """One replica's sharding, batch and ideal (100% of peak) step; ``replicas`` of them run side by side."""

    desc: WorkloadDesc
    parallel: Parallelism
    replicas: int
    min_devices: int
    fit: MemoryFit
    phases: list[PhaseTime]
    step_ms: float
    items: float
    item_unit: str

    @property
    def shards(self) -> int:
        return self.parallel.devices

    @property
    def fits(self) -> bool:
        return self.replicas >= 1

    @property
    def ideal_per_device(self) -> float:
        """Items per second per device at 100% of every peak."""
        return self.items / (self.step_ms / 1e3) / self.shards


def canonical_scenario(scenario: str | None) -> Scenario | None:
    """offline/server from any case ('Offline', 'SERVER'); None stays None; anything else is None."""
    name = (scenario or "").lower()
    return name if name in SCENARIOS else None  # type: ignore[return-value]


def _divisors_from(count: int, least: int) -> list[int]:
    return [d for d in range(least, count + 1) if count % d == 0]


def _build(desc: WorkloadDesc, acc: Accelerator, shards: int, count: int, fit: MemoryFit) -> ReplicaPlan:
    phases = phase_times(desc, acc, parallel=Parallelism.for_devices(shards))
    items, unit = step_items(desc)
    return ReplicaPlan(
        desc=desc,
        parallel=Parallelism.for_devices(shards),
        replicas=count // shards,
        min_devices=fit.min_devices,
        fit=fit,
        phases=phases,
        step_ms=step_ms(phases, desc),
        items=items,
        item_unit=unit,
    )


def _throughput_batch(desc: WorkloadDesc, acc: Accelerator, shards: int) -> int:
    if desc.task == "generate":
        # In-flight batching keeps sequences at every stage: on average prompt + half the output is cached.
        tokens = int(desc.mean_context())
        return max(1, min(MAX_CONCURRENT_SEQUENCES, max_concurrent_sequences(desc, acc, shards, tokens)))
    if desc.task == "infer":
        return OFFLINE_NOMINAL_BATCH
    return desc.batch


def plan_replica(
    desc: WorkloadDesc, acc: Accelerator, count: int, scenario: str | None = None
) -> ReplicaPlan:
    """The plan for ``desc`` on ``count`` x ``acc`` (see module docstring)."""
    if canonical_scenario(scenario) is None:
        fit = memory_fit(desc, acc)
        shards = next(iter(_divisors_from(count, fit.min_devices)), fit.min_devices)
        return _build(desc, acc, shards, count, fit)
    fit = memory_fit(desc.model_copy(update={"batch": 1}), acc)  # the batch then fills what is left
    candidates = _divisors_from(count, fit.min_devices) or [fit.min_devices]
    best: ReplicaPlan | None = None
    for shards in candidates:
        sized = desc.model_copy(update={"batch": _throughput_batch(desc, acc, shards)})
        plan = _build(sized, acc, shards, count, fit)
        if best is None or plan.ideal_per_device > best.ideal_per_device:
            best = plan
    assert best is not None
    return best
