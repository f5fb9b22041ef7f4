"""Fan a suite out over a Ray cluster: select nodes by resources, run one task per node (times
``runs_per_node``), group the stored results by host fingerprint."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from capplan.errors import UserError
from capplan.results.store import Store, backend_name
from capplan.results.summary import headline
from capplan.signals import stop_on_signals

ADDRESS_HELP = (
    "auto (a running cluster on this machine), ray://HOST:PORT (Ray Client), or local (start one here)"
)


class FleetOptions(BaseModel):
    """What to run where. Resources are per run (one Ray task per node and run)."""

    model_config = ConfigDict(extra="forbid")

    suite: str = Field(
        min_length=1, description="quick, standard, full, or a suite YAML path valid on every node"
    )
    address: str = Field("auto", description=ADDRESS_HELP)
    only: list[str] = Field(default_factory=list, description="run only these benchmarks of the suite")
    device: str | None = Field(
        None, pattern=r"^(cpu|cuda(:\d+)?)$", description="override every benchmark's device"
    )
    gpu_type: str | None = Field(
        None, min_length=1, description="only nodes with this accelerator type (e.g. H100)"
    )
    gpus_per_run: float = Field(0, ge=0, description="GPUs Ray reserves for each run (CUDA_VISIBLE_DEVICES)")
    cpus_per_run: float = Field(1, gt=0, description="CPUs Ray reserves for each run")
    runs_per_node: int = Field(1, ge=1, le=64, description="independent runs of the suite on each node")
    max_nodes: int | None = Field(None, ge=1, description="use at most this many of the matching nodes")
    allow_code: bool = Field(
        False, description="trust package.module:Class kinds the suite names (runs their code)"
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if value not in ("auto", "local") and not value.startswith("ray://"):
            raise ValueError(f"{value!r}; allowed: {ADDRESS_HELP}")
        return value


@dataclass(frozen=True)
class FleetNode:
    """A Ray node that can take the runs."""

    node_id: str
    address: str
    resources: dict[str, float]


def check_shared_store(url: str, nodes: int) -> None:
    """A SQLite file lives on one machine's disk: refuse it when more than one node would write."""
    if nodes > 1 and backend_name(url) == "sqlite":
        raise UserError(
            f"--store: a SQLite file cannot be shared by {nodes} nodes; use a PostgreSQL store reachable "
            "from every node (postgresql+psycopg://USER:PASSWORD@HOST/DB)"
        )


def _accelerator_matches(node: dict[str, Any], gpu_type: str) -> bool:
    """Ray tags GPU nodes with an ``accelerator_type:<T>`` resource and a ``ray.io/accelerator-type``
    label."""
    labels = node.get("Labels") or {}
    return (
        f"accelerator_type:{gpu_type}" in node["Resources"]
        or labels.get("ray.io/accelerator-type") == gpu_type
    )


def select_nodes(nodes: list[dict[str, Any]], opts: FleetOptions) -> list[FleetNode]:
    """Alive nodes with room for ``runs_per_node`` runs of the requested size (and GPU type)."""
    out = []
    for node in sorted(nodes, key=lambda n: n["NodeManagerAddress"]):
        res = node["Resources"]
        if not node["Alive"]:
            continue
        if (
            res.get("CPU", 0) < opts.cpus_per_run
            or res.get("GPU", 0) < opts.gpus_per_run * opts.runs_per_node
        ):
            continue
        if opts.gpu_type and not _accelerator_matches(node, opts.gpu_type):
            continue
        out.append(FleetNode(node["NodeID"], node["NodeManagerAddress"], dict(res)))
    if not out:
        wanted = f"{opts.cpus_per_run:g} CPU, {opts.gpus_per_run * opts.runs_per_node:g} GPU" + (
            f" of type {opts.gpu_type}" if opts.gpu_type else "")
        raise UserError(
            f"--gpu-type/--gpus-per-run: no alive Ray node has {wanted}; the cluster has {len(nodes)} nodes"
        )
    return out[: opts.max_nodes]


def run_suite_task(suite: str, store_url: str, only: list[str], device: str | None, tags: dict[str, str],
                   allow_code: bool = False) -> list[dict[str, Any]]:
    """Body of one Ray task: run the suite with capplan's harness on this node, store every record."""
    from capplan.harness.runner import run_benchmarks
    from capplan.harness.suite import load_suite

    plan = load_suite(suite, only=only or None, device=device, allow_code=allow_code)
    for item in plan.benchmarks:
        item.spec = item.spec.model_copy(update={"tags": {**item.spec.tags, **tags}})
    store = Store(store_url, create=False)
    events = run_benchmarks(plan.benchmarks, store, suite=plan.name)
    store.close()
    return [
        {"benchmark": e.spec.name, "run_id": e.record.run_id, "status": e.record.status.value,
         "host_fingerprint": e.record.host_fingerprint, "hostname": e.record.inventory.get("hostname"),
         "headline": headline(e.record)}
        for e in events if e.record is not None
    ]


def _connect(address: str) -> Any:
    import ray

    if not ray.is_initialized():
        ray.init(
            address=None if address == "local" else address, include_dashboard=False, log_to_driver=False
        )
    stop_on_signals()  # ray.init installs its own SIGTERM handler; keep capplan's (SIGHUP too)
    return ray


def run_fleet(opts: FleetOptions, store_url: str) -> dict[str, Any]:
    """Run the suite on every selected node; returns the runs grouped by host fingerprint."""
    from capplan.harness.suite import load_suite

    # A bad (or untrusted) suite fails here, not on N nodes.
    load_suite(opts.suite, only=opts.only or None, device=opts.device, allow_code=opts.allow_code)
    try:
        ray = _connect(opts.address)
    except ImportError as exc:
        raise UserError("fleet: Ray is not installed; pip install 'capplan[fleet]'") from exc
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(
            f"--address {opts.address}: cannot connect to a Ray cluster: {str(exc).splitlines()[0]}"
        ) from exc
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = select_nodes(ray.nodes(), opts)
    check_shared_store(store_url, len(nodes))
    store = Store(store_url)  # create/upgrade the schema once, before the nodes write
    display_url = store.display_url
    store.close()
    fleet_run = uuid.uuid4().hex[:12]
    task = ray.remote(run_suite_task)
    futures, placements = [], []
    for node in nodes:
        for slot in range(opts.runs_per_node):
            placements.append((node, slot))
            tags = {"fleet_run": fleet_run, "fleet_node": node.address, "fleet_slot": str(slot)}
            futures.append(task.options(
                num_cpus=opts.cpus_per_run, num_gpus=opts.gpus_per_run,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            ).remote(opts.suite, store_url, opts.only, opts.device, tags, opts.allow_code))
    hosts: dict[str, dict[str, Any]] = {}
    errors = []
    for future, (node, slot) in zip(futures, placements, strict=True):
        try:
            rows = ray.get(future)
        except ray.exceptions.RayError as exc:  # a lost node or a crash outside the harness: report, go on
            errors.append(
                {"node": node.address, "slot": slot, "error": str(exc).strip().splitlines()[-1][:300]}
            )
            continue
        for row in rows:
            host = hosts.setdefault(row["host_fingerprint"], {"hostname": row["hostname"], "runs": []})
            host["runs"].append({k: row[k] for k in ("benchmark", "run_id", "status", "headline")})
    return {"fleet_run": fleet_run, "store": display_url, "nodes": [n.address for n in nodes],
            "tasks": len(futures), "hosts": hosts, "errors": errors}
