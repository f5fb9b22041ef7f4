"""Workloads to project: named catalog workloads, or stored model runs described by their measured counts."""

from __future__ import annotations

from capplan.perfmodel import WORKLOADS, WorkloadDesc, describe_run, named_workload
from capplan.perfmodel.workloads import DTYPE_BYTES, WORKLOAD_TASKS
from capplan.results.store import RunFilter, Store
from capplan.views.kinds import MODEL_KINDS

__all__ = [
    "DTYPES",
    "WORKLOAD_NAMES",
    "WORKLOAD_TASKS",
    "WorkloadDesc",
    "model_run_choices",
    "named_workload",
    "workload_of_run",
]

WORKLOAD_NAMES: tuple[str, ...] = tuple(sorted(WORKLOADS))
DTYPES: tuple[str, ...] = tuple(DTYPE_BYTES)


def model_run_choices(store: Store, limit: int) -> dict[str, str]:
    """The newest ``limit`` ok model runs (infer, train, generate…) as run id -> label, newest first."""
    rows = [
        row
        for kind in sorted(MODEL_KINDS)
        for row in store.summaries(RunFilter(kind=kind, status="ok", limit=limit))
    ]
    rows.sort(key=lambda r: r["run_id"])
    rows.sort(key=lambda r: r["started_utc"], reverse=True)  # the store's order: newest first, then run id
    return {
        r["run_id"]: f"{r['benchmark']} · {r['started_utc']:%Y-%m-%d %H:%M} · {r['run_id'][:8]}"
        for r in rows[:limit]
    }


def workload_of_run(store: Store, run_id: str) -> WorkloadDesc | None:
    """The workload a stored run measured (from its FLOP counts or model name); None when it cannot be
    told."""
    return describe_run(store.get(run_id))
