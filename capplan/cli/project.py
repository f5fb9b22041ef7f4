"""`capplan project WORKLOAD|RUN_ID --to ACCEL` and `capplan project validate`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from capplan.cli.catalog import CatalogOpt, open_catalog
from capplan.cli.common import JsonOpt, StoreOpt, console, print_json, reading_store
from capplan.errors import UserError
from capplan.perfmodel.workloads import WORKLOAD_TASKS

if TYPE_CHECKING:
    from capplan.perfmodel import ValidationReport

def project(
    workload: Annotated[
        str,
        typer.Argument(
            help="A workload (bert-base, bert-large, resnet50, resnet101, gpt2, gpt2-medium, llama-7b, "
            "llama-70b), a stored run id (prefix ok), or 'validate' for leave-one-out validation."
        ),
    ],
    to: Annotated[
        str | None, typer.Option("--to", help="Catalog accelerator, e.g. H100, A100-80GB, L4.")
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, help="Number of devices.")] = 1,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="fp32, tf32, bf16, fp16, fp8, int8 (default: the run's).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, help="Batch size (default: the run's, or 1).")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="infer, train or generate (default: the run's, or infer).")
    ] = None,
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Project a workload onto catalog hardware: roofline per phase, memory fit, calibrated efficiency
    band."""
    from capplan.perfmodel import gather_points, leave_one_out
    from capplan.perfmodel import project as run_projection

    cat = open_catalog(catalog)
    st = reading_store(store)
    if workload == "validate":
        report = leave_one_out(gather_points(cat, st.query() if st else []), cat)
        if as_json:
            print_json(report.model_dump(mode="json"))
            return
        _print_validation(report)
        return
    if to is None:
        raise UserError(
            "--to: required; name a catalog accelerator (see `capplan catalog list accelerators`)"
        )
    if task is not None and task not in WORKLOAD_TASKS:
        raise UserError(f"--task: {task!r}; allowed: {', '.join(WORKLOAD_TASKS)}")
    proj = run_projection(
        workload, to, count=count, dtype=dtype, catalog=cat, store=st, batch=batch, task=task
    )
    if as_json:
        print_json(proj.model_dump(mode="json"))
        return
    unit = proj.throughput_unit
    console.print(
        f"[bold]{proj.workload}[/] ({proj.task}, {proj.dtype}, batch {proj.batch}) on {proj.count} x "
        f"{proj.accelerator}: "
        f"[bold]{proj.throughput_per_s:,.4g} {unit}[/] (band {proj.band_low:,.4g} - {proj.band_high:,.4g}), "
        f"latency {proj.latency_ms:.4g} ms ({proj.latency_low_ms:.4g} - {proj.latency_high_ms:.4g}), "
        f"{proj.bound}-bound",
        highlight=False,
    )
    mem = f"{proj.device_memory_gib:.0f} GiB/device" if proj.device_memory_gib else "device memory unknown"
    console.print(
        f"memory: {proj.memory_required_gib:.3g} GiB per replica ({mem}) -> min devices {proj.min_devices}",
        highlight=False,
    )
    console.print(
        f"efficiency {proj.efficiency:.3f} ({proj.efficiency_low:.3f} - {proj.efficiency_high:.3f}), "
        f"calibration: {proj.calibration_tier}, {len(proj.calibration_points)} point(s)",
        highlight=False,
    )
    t = Table(title="calibration points")
    for col in ("workload", "accelerator", "dtype", "measured/device", "efficiency", "origin"):
        t.add_column(col, overflow="fold")
    for p in proj.calibration_points:
        t.add_row(
            p.workload,
            p.accelerator,
            p.dtype,
            f"{p.measured_per_device:,.4g} {p.unit}",
            f"{p.efficiency:.3f}",
            p.origin,
        )
    if proj.calibration_points:
        console.print(t)
    for note in proj.notes:
        console.print(f"note: {note}", highlight=False)


def _print_validation(report: ValidationReport) -> None:
    t = Table(title="leave-one-out projection error")
    for col in ("workload", "accelerator", "measured", "projected", "error %", "in band", "calibrated from"):
        t.add_column(col, overflow="fold")
    for r in report.rows:
        t.add_row(r.workload, r.accelerator, f"{r.measured:,.4g} {r.unit}", f"{r.projected:,.4g}",
                  f"{r.error_pct:+.1f}", "yes" if r.in_band else "no", f"{r.tier} ({r.points_used})")
    console.print(t)
    if report.median_abs_error_pct is None:
        console.print("no points with a known accelerator and workload to validate")
        return
    console.print(
        f"median absolute error: {report.median_abs_error_pct:.1f}% over {len(report.rows)} points; "
        f"measured value inside the band for {report.in_band_pct:.0f}%",
        highlight=False,
    )
