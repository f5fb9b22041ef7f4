"""`capplan project WORKLOAD|RUN_ID --to ACCEL` and `capplan project validate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from capplan.cli.catalog import CatalogOpt, open_catalog
from capplan.cli.common import JsonOpt, StoreOpt, console, print_json, reading_store
from capplan.errors import UserError

if TYPE_CHECKING:
    from capplan.catalog import Catalog
    from capplan.perfmodel import CalibrationPoint, Projection, ValidationReport
    from capplan.perfmodel.validate import ModeReport

SCENARIO_CHOICES = ("offline", "server", "fixed")


def project(
    workload: Annotated[
        str,
        typer.Argument(
            help="A named workload (resnet50, retinanet, bert-99, dlrm-v2, gpt-j-6b, llama2-70b, "
            "llama3.1-8b, llama3.1-405b, mixtral-8x7b, stable-diffusion-xl, whisper, ...), a stored run id "
            "(prefix ok), or "
            "'validate' for the hold-out validation over every shipped published result."
        ),
    ],
    to: Annotated[
        str | None, typer.Option("--to", help="Catalog accelerator, e.g. H100, B200, MI300X, L4.")
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, help="Number of devices.")] = 1,
    dtype: Annotated[
        str | None,
        typer.Option(
            "--dtype", help="fp32, tf32, bf16, fp16, fp8, int8, fp4, int4 (default: the run's, or fp32)."
        ),
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, help="Fixed batch size (implies --scenario fixed).")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task", help="infer, train or generate (default: the workload's, e.g. generate for LLMs)."
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            help="offline (MLPerf-style throughput: batch and sharding tuned), server (latency-bounded, "
            "from Server results or the learned Server/Offline factor) or fixed (the given batch). Default: "
            "offline for a named workload without --batch, else fixed.",
        ),
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="validate: also project the results in this file (an MLPerf results CSV or LoadGen summary "
            "log that is not shipped) from the shipped calibration alone and report the same errors.",
        ),
    ] = None,
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Project a workload onto catalog hardware: roofline per phase with collectives, memory fit,
    calibrated efficiency and its 80% band."""
    from capplan.perfmodel import gather_points, validate
    from capplan.perfmodel import project as run_projection
    from capplan.perfmodel.named import lookup

    cat = open_catalog(catalog)
    st = reading_store(store)
    if workload == "validate":
        points = gather_points(cat, st.query() if st else [])
        report = validate(points, cat)
        external = _check_file(against, points, cat) if against is not None else None
        if as_json:
            doc = report.model_dump(mode="json")
            if external is not None:
                doc["external"] = external.model_dump(mode="json")
            print_json(doc)
            return
        _print_validation(report)
        if external is not None:
            console.print(_mode_table(f"{against.name}: results not in the project", [external],
                                      report.band_coverage_pct))
        return
    if against is not None:
        raise UserError("--against: only with `capplan project validate`")
    if to is None:
        raise UserError(
            "--to: required; name a catalog accelerator (see `capplan catalog list accelerators`)"
        )
    if scenario is not None and scenario.lower() not in SCENARIO_CHOICES:
        raise UserError(f"--scenario: {scenario!r}; allowed: {', '.join(SCENARIO_CHOICES)}")
    if scenario is None:
        scenario = "offline" if batch is None and lookup(workload) is not None else "fixed"
    mode = None if scenario.lower() == "fixed" else scenario.lower()
    proj = run_projection(
        workload, to, count=count, dtype=dtype, catalog=cat, store=st, batch=batch, task=task, scenario=mode
    )
    if as_json:
        print_json(proj.model_dump(mode="json"))
        return
    _print_projection(proj)


def _check_file(path: Path, points: list[CalibrationPoint], cat: Catalog) -> ModeReport:
    """The results in ``path`` projected from ``points`` (which must not contain them)."""
    from capplan.perfmodel.calibration import point_from_record
    from capplan.perfmodel.validate import check_external
    from capplan.results.io import read_import_file

    records = read_import_file(path)
    shipped = {p.run_id for p in points}
    held = [p for r in records if r.run_id not in shipped and (p := point_from_record(r, cat)) is not None]
    if not held:
        raise UserError(
            f"--against: {path} holds no result capplan can project (known workload, catalog accelerator, "
            "a throughput) that is not already in the calibration set"
        )
    return check_external(held, points, cat)


def _print_projection(proj: Projection) -> None:
    unit = proj.throughput_unit
    mode = proj.scenario or f"fixed batch {proj.batch}"
    if not proj.fits:
        console.print(
            f"[bold]{proj.workload}[/] ({proj.task}, {proj.dtype}) does not fit on {proj.count} x "
            f"{proj.accelerator}: one replica needs {proj.memory_required_gib:,.4g} GiB, i.e. at least "
            f"[bold]{proj.min_devices}[/] devices; rerun with --count {proj.min_devices}",
            highlight=False,
        )
    else:
        console.print(
            f"[bold]{proj.workload}[/] ({proj.task}, {proj.dtype}, {mode}) on {proj.count} x "
            f"{proj.accelerator}: [bold]{proj.throughput_per_s:,.4g} {unit}[/] (80% band "
            f"{proj.band_low:,.4g} - {proj.band_high:,.4g}), "
            f"{'request' if proj.task == 'generate' else 'step'} latency {proj.latency_ms:.4g} ms "
            f"({proj.latency_low_ms:.4g} - {proj.latency_high_ms:.4g}), "
            f"{proj.bound}-bound",
            highlight=False,
        )
    mem = f"{proj.device_memory_gib:.0f} GiB/device" if proj.device_memory_gib else "device memory unknown"
    console.print(
        f"memory: {proj.memory_required_gib:,.4g} GiB per replica at batch "
        f"{1 if proj.scenario else proj.batch} ({mem}) -> min devices {proj.min_devices}; "
        f"{proj.replicas} replica(s) of {proj.devices_per_replica} device(s) "
        f"(tensor {proj.tensor_parallel} x "
        f"pipeline {proj.pipeline_parallel}), batch {proj.batch}",
        highlight=False,
    )
    console.print(
        f"efficiency {proj.efficiency:.3f} ({proj.efficiency_low:.3f} - {proj.efficiency_high:.3f}) at the "
        f"{proj.peak_dtype} peak; calibration: {proj.calibration_tier}, "
        f"{len(proj.calibration_points)} point(s)",
        highlight=False,
    )
    t = Table(title="calibration points (first 10)")
    for col in ("workload", "accelerator", "dtype", "scenario", "measured/device", "efficiency", "origin"):
        t.add_column(col, overflow="fold")
    for p in proj.calibration_points[:10]:
        t.add_row(
            p.workload,
            p.accelerator,
            p.dtype,
            p.scenario or "-",
            f"{p.measured_per_device:,.4g} {p.unit}",
            f"{p.efficiency:.3f}",
            p.origin,
        )
    if proj.calibration_points:
        console.print(t)
    console.print(f"workload figures: {proj.workload_source}", highlight=False)
    for note in proj.notes:
        console.print(f"note: {note}", highlight=False)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _left_out(mode: str) -> str:
    """'leave-one-system-out' -> 'system'; 'leave-one-out' -> 'result'."""
    return "result" if mode == "leave-one-out" else mode.removeprefix("leave-one-").removesuffix("-out")


def _mode_table(title: str, modes: list[ModeReport], stated: float) -> Table:
    t = Table(title=title)
    t.add_column("one ... left out", no_wrap=True)
    for col in ("results", "median |err| %", "Offline", "Server", f"in {stated:.0f}% band"):
        t.add_column(col, justify="right")
    for m in modes:
        off, srv = m.by_scenario.get("offline"), m.by_scenario.get("server")
        t.add_row(
            _left_out(m.mode) if m.mode.startswith("leave-") else m.mode,
            str(m.overall.n),
            _pct(m.overall.median_abs_error_pct),
            _pct(off.median_abs_error_pct) if off else "-",
            _pct(srv.median_abs_error_pct) if srv else "-",
            f"{_pct(m.overall.in_band_pct)}%",
        )
    return t


def _print_validation(report: ValidationReport) -> None:
    if not report.inference and not report.training:
        console.print("no points with a known accelerator and workload to validate")
        return
    stated = report.band_coverage_pct
    if report.inference:
        console.print(
            _mode_table(f"inference: {report.inference_results} published results", report.inference, stated)
        )
        t = Table(title="median |error| % by workload (results)")
        t.add_column("workload")
        for m in report.inference:
            t.add_column(_left_out(m.mode), justify="right")
        for name in report.inference[0].by_workload:
            t.add_row(
                name,
                *(
                    f"{_pct(m.by_workload[name].median_abs_error_pct)} ({m.by_workload[name].n})"
                    for m in report.inference
                ),
            )
        console.print(t)
        tiers = Table(title="median |error| % by calibration tier (results, in band)")
        tiers.add_column("left out", no_wrap=True)
        tiers.add_column("tier")
        tiers.add_column("result")
        for m in report.inference:
            for tier, s in m.by_tier.items():
                cell = f"{_pct(s.median_abs_error_pct)} ({s.n}, {_pct(s.in_band_pct)}%)"
                tiers.add_row(_left_out(m.mode), tier, cell)
        console.print(tiers)
    if report.training:
        console.print(
            _mode_table(
                f"training: {report.training_results} published throughput figures", report.training, stated
            )
        )
    loso = next((m for m in report.inference if m.mode == "leave-one-system-out"), None)
    if loso is not None:
        off, srv = loso.by_scenario.get("offline"), loso.by_scenario.get("server")
        console.print(
            "leave-one-system-out median absolute error: "
            f"Offline {_pct(off.median_abs_error_pct if off else None)}%, "
            f"Server {_pct(srv.median_abs_error_pct if srv else None)}% over {loso.overall.n} results; "
            f"{_pct(loso.overall.in_band_pct)}% inside the {stated:.0f}% band",
            highlight=False,
        )
