"""`capplan bench run --nproc N [--nnodes M --node-rank R --rdzv-endpoint HOST:PORT]`: the suite's
distributed benchmarks (collectives, DDP training) under torchrun, on one node or many."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from capplan.cli.common import err_console, print_json
from capplan.errors import UserError

if TYPE_CHECKING:
    from capplan.harness.suite import Suite
    from capplan.results.store import Store

NprocOpt = Annotated[
    int | None,
    typer.Option(
        "--nproc",
        min=1,
        help="Run the suite's distributed benchmarks (collective, ddp) under torchrun "
        "with this many processes per node: one per GPU.",
        show_default=False,
    ),
]
NnodesOpt = Annotated[
    int, typer.Option("--nnodes", min=1, help="Nodes taking part; run the same command on each.")
]
NodeRankOpt = Annotated[int, typer.Option("--node-rank", min=0, help="This node's index, 0..nnodes-1.")]
RdzvOpt = Annotated[
    str | None,
    typer.Option(
        "--rdzv-endpoint",
        help="HOST:PORT of the c10d rendezvous on node 0 (needed with --nnodes > 1).",
        show_default=False,
    ),
]


def launch_suite(
    plan: Suite, st: Store, *, nproc: int | None, nnodes: int, node_rank: int, rdzv_endpoint: str | None,
    resume: bool, as_json: bool,
) -> None:
    """Run ``plan``'s distributed benchmarks through torchrun on this node and report them."""
    from capplan.cli.run_report import print_run_rows, run_row
    from capplan.harness.launch import is_distributed, launch_benchmarks, launch_config, launch_options
    from capplan.harness.runner import RunEnvironment
    from capplan.results.schema import config_hash

    opts = launch_options(nproc=nproc or 1, nnodes=nnodes, node_rank=node_rank, rdzv_endpoint=rdzv_endpoint)
    if resume and nnodes > 1:
        raise UserError("--resume: not supported with --nnodes > 1 (every node must run the same benchmarks)")
    items = [p for p in plan.benchmarks if is_distributed(p.spec)]
    skipped = [p.spec.name for p in plan.benchmarks if not is_distributed(p.spec)]
    if not items:
        raise UserError(f"--nproc: suite {plan.name} has no distributed benchmarks (kinds collective, ddp)")
    if resume:
        fingerprint = RunEnvironment.collect().fingerprint
        items = [
            p for p in items if not st.has_ok(config_hash(launch_config(p.spec, p.params, opts)), fingerprint)
        ]
    if skipped and not as_json:
        err_console.print(f"not distributed, run them without --nproc: {', '.join(skipped)}", markup=False)
    where = (f"{opts.world_size} ranks ({opts.nproc} per node x {opts.nnodes} nodes, "
             f"this is node {opts.node_rank})")
    if not as_json:
        err_console.print(f"torchrun: {len(items)} benchmarks on {where}", markup=False)
    records = launch_benchmarks(items, st, opts, suite=plan.name)
    rows = [
        run_row(item.spec.name, record, "remote", "rank 0 ran on another node, which stores the record")
        for item, record in zip(items, records, strict=True)
    ]
    if as_json:
        print_json({"suite": plan.name, "store": st.display_url, "launch": opts.model_dump(), "runs": rows,
                    "not_distributed": skipped})
        return
    print_run_rows(f"suite {plan.name} on {where} -> {st.display_url}", rows)
