"""Groups of benchmark kinds the views select records by, derived from what each kind declares
(capplan.harness.registry), never from kind names."""

from __future__ import annotations

from typing import get_args

from capplan.harness.registry import kinds_where
from capplan.harness.spec import WorkloadTask

MODEL_KINDS = frozenset(
    name for task in get_args(WorkloadTask) for name in kinds_where(task=task)
)  # records describe a workload (infer/train/generate)
SERVE_KINDS = frozenset(kinds_where(task="serve"))  # records measure an LLM-serving endpoint over HTTP
MICRO_KINDS = frozenset(kinds_where(task="micro"))  # records measure a device property, no workload
COMPUTE_KINDS = frozenset(kinds_where(measures="compute"))  # FLOP/s (GEMM)
MEMBW_KINDS = frozenset(kinds_where(measures="memory_bandwidth"))  # device-memory bandwidth (STREAM)
