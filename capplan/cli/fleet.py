"""`capplan fleet run`: one suite run per node of a Ray cluster, all into one shared store."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from capplan.cli.common import AllowCodeOpt, JsonOpt, StoreOpt, console, print_json
from capplan.errors import UserError
from capplan.results.store import default_store_url

app = typer.Typer(
    help="Run suites across a fleet of hosts (Ray; pip install 'capplan[fleet]').", no_args_is_help=True
)


@app.command("run")
def run(
    suite: Annotated[
        str,
        typer.Option(
            "--suite", "-s", help="quick, standard, full, or a suite YAML path valid on every node."
        ),
    ],
    address: Annotated[
        str, typer.Option("--address", help="auto (running cluster), ray://HOST:PORT, or local.")
    ] = "auto",
    store: StoreOpt = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this benchmark (repeatable).")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu or cuda[:N] for every benchmark.", show_default=False)
    ] = None,
    gpu_type: Annotated[
        str | None,
        typer.Option(
            "--gpu-type", help="Only nodes with this accelerator type (Ray's, e.g. H100).", show_default=False
        ),
    ] = None,
    gpus_per_run: Annotated[float, typer.Option("--gpus-per-run", min=0, help="GPUs reserved per run.")] = 0,
    cpus_per_run: Annotated[
        float, typer.Option("--cpus-per-run", min=0.01, help="CPUs reserved per run.")
    ] = 1,
    runs_per_node: Annotated[
        int, typer.Option("--runs-per-node", min=1, help="Independent runs of the suite per node.")
    ] = 1,
    max_nodes: Annotated[
        int | None,
        typer.Option("--max-nodes", min=1, help="Use at most this many nodes.", show_default=False),
    ] = None,
    allow_code: AllowCodeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the suite once per matching Ray node; every node writes to the shared (PostgreSQL) store."""
    from capplan.fleet.ray_fleet import FleetOptions, run_fleet

    try:
        opts = FleetOptions(suite=suite, address=address, only=only or [], device=device, gpu_type=gpu_type,
                            gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, runs_per_node=runs_per_node,
                            max_nodes=max_nodes, allow_code=allow_code)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(
            f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg'].removeprefix('Value error, ')}"
        ) from exc
    report = run_fleet(opts, store or default_store_url())
    if as_json:
        print_json(report)
        return
    t = Table(
        title=f"fleet run {report['fleet_run']}: {report['tasks']} tasks on {len(report['nodes'])} nodes -> "
              f"{report['store']}"
    )
    for col in ("host fingerprint", "hostname", "benchmark", "status", "run id", "headline / error"):
        t.add_column(col)
    for fp, host in report["hosts"].items():
        for r in host["runs"]:
            t.add_row(
                fp,
                host["hostname"] or "-",
                r["benchmark"],
                r["status"],
                r["run_id"][:12],
                (r["headline"] or "")[:70],
            )
    console.print(t)
    for e in report["errors"]:
        console.print(f"node {e['node']} run {e['slot']}: {e['error']}", markup=False, highlight=False)
    if report["errors"]:
        raise typer.Exit(1)
