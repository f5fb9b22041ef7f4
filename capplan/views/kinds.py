"""Groups of benchmark kinds the views select records by, derived from what each kind declares
(capplan.harness.registry), never from kind names."""

from __future__ import annotations

from capplan.harness.registry import kinds_where

MODEL_KINDS = frozenset(
    kinds_where(exclude_task="micro")
)  # records describe a workload (infer/train/generate)
MICRO_KINDS = frozenset(kinds_where(task="micro"))  # records measure a device property, no workload
COMPUTE_KINDS = frozenset(kinds_where(measures="compute"))  # FLOP/s (GEMM)
MEMBW_KINDS = frozenset(kinds_where(measures="memory_bandwidth"))  # device-memory bandwidth (STREAM)
