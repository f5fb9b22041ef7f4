"""`capplan catalog ...`: list accelerators, cloud instances and cloud regions, convert SkyPilot catalogs."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from capplan.catalog import Catalog, load_catalog
from capplan.cli.common import JsonOpt, console, print_json
from capplan.errors import UserError

app = typer.Typer(
    help="Accelerator and cloud-instance catalog (sourced, dated; user overrides).", no_args_is_help=True
)

CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog",
        help="Extra catalog YAML/CSV file or directory, merged over the shipped rows and the user "
        "config dir (repeatable).",
        show_default=False,
    ),
]


class CatalogTable(StrEnum):
    accelerators = "accelerators"
    instances = "instances"
    regions = "regions"


def open_catalog(paths: list[Path] | None) -> Catalog:
    """The shipped catalog with user-dir and ``--catalog`` overrides applied."""
    return load_catalog(paths)


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@app.command("list")
def list_rows(
    table: Annotated[CatalogTable, typer.Argument(help="accelerators, instances or regions")],
    catalog: CatalogOpt = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="Instances with this accelerator only.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List catalog rows with their sources and dates."""
    cat = open_catalog(catalog)
    if table is CatalogTable.accelerators:
        rows = [a.model_dump() for a in cat.accelerators]
        cols = {
            "name": "name",
            "kind": "kind",
            "memory_gib": "mem GiB",
            "mem_bw_gbps": "GB/s",
            "bf16_tflops_dense": "BF16 TF",
            "fp16_tflops_dense": "FP16 TF",
            "fp32_tflops": "FP32 TF",
            "tdp_w": "W",
        }
    elif table is CatalogTable.regions:
        rows = [{**r.model_dump(), "qualified": r.qualified, "economic_area": ";".join(r.economic_area)}
                for r in cat.regions]
        cols = {
            "qualified": "region (as a plan writes it)",
            "location": "location",
            "country_iso2": "country",
            "economic_area": "economic area",
            "source_date": "date",
        }
    else:
        insts = cat.instances_for(gpu) if gpu else cat.instances
        rows = [i.model_dump() for i in insts]
        cols = {
            "provider": "provider",
            "instance": "instance",
            "region": "region",
            "gpu_name": "GPU",
            "gpu_count": "n",
            "on_demand_usd_per_hour": "$/h",
            "reserved_1y_usd_per_hour": "1y $/h",
            "reserved_3y_usd_per_hour": "3y $/h",
            "spot_usd_per_hour": "spot $/h",
            "notes": "notes",
        }
    if as_json:
        print_json(rows)
        return
    t = Table(
        title=f"{len(rows)} {table.value}" + (f" (overrides: {', '.join(cat.files)})" if cat.files else "")
    )
    for label in cols.values():
        t.add_column(label, overflow="fold")
    for row in rows:
        t.add_row(*(_fmt(row[c]) if c != "notes" else ("!" if row[c] else "") for c in cols))
    console.print("Sources and dates: --json. '!' = see the row's notes (suspect or corrected figures).")
    console.print(t)


@app.command("import-skypilot")
def import_skypilot(
    file: Annotated[Path, typer.Argument(help="SkyPilot catalog vms.csv (AWS or GCP layout).")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write capplan instance CSV here (default stdout).")
    ] = None,
    note: Annotated[
        str | None,
        typer.Option("--note", help="Provenance to record in each row's source, e.g. the catalog commit."),
    ] = None,
    catalog: CatalogOpt = None,
) -> None:
    """Convert a SkyPilot catalog CSV offline into capplan's instance CSV (usable with --catalog)."""
    from capplan.catalog.skypilot import convert_skypilot_csv, write_instances_csv

    rows, skipped = convert_skypilot_csv(file, open_catalog(catalog), note)
    if out is None:
        write_instances_csv(rows, sys.stdout)
    else:
        try:
            with out.open("w", encoding="utf-8", newline="") as fh:
                write_instances_csv(rows, fh)
        except OSError as exc:
            raise UserError(f"-o: cannot write {out}: {exc.strerror or exc}") from exc
    typer.echo(
        f"{len(rows)} GPU instance rows converted, {skipped} rows skipped (no GPU or no price)", err=True
    )
