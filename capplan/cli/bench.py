"""`capplan bench ...`: list, show, export and import stored runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from capplan.cli.common import JsonOpt, StoreOpt, console, open_store, print_json
from capplan.errors import UserError
from capplan.results.io import EXPORT_FORMATS, export_records, read_import_file
from capplan.results.schema import Source, Status
from capplan.results.store import RunFilter

app = typer.Typer(help="Run, list, inspect, compare, export and import benchmark results.", no_args_is_help=True)

FILTER_KEYS = ("benchmark", "suite", "kind", "status", "host", "source")


def parse_filters(filters: list[str] | None, limit: int | None = None) -> RunFilter:
    """Turn ``key=value`` strings into a RunFilter; unknown keys or values are user errors."""
    values: dict[str, str] = {}
    for item in filters or []:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise UserError(f"--filter: {item!r} is not key=value; keys: {', '.join(FILTER_KEYS)}")
        if key not in FILTER_KEYS:
            raise UserError(f"--filter: unknown key {key!r}; allowed: {', '.join(FILTER_KEYS)}")
        values[key] = value
    if "status" in values and values["status"] not in Status.__members__:
        raise UserError(f"--filter status: {values['status']!r}; allowed: {', '.join(Status.__members__)}")
    if "source" in values and values["source"] not in Source.__members__:
        raise UserError(f"--filter source: {values['source']!r}; allowed: {', '.join(Source.__members__)}")
    host = values.pop("host", None)
    return RunFilter(**values, host_fingerprint=host, limit=limit)


FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", "-f", help=f"key=value, repeatable; keys: {', '.join(FILTER_KEYS)}."),
]


@app.command("list")
def list_runs(
    store: StoreOpt = None,
    filters: FilterOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs (newest first).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs, newest first."""
    flt = parse_filters(filters, limit)
    st = open_store(store)
    records = st.query(flt)
    if as_json:
        print_json([_summary(r) for r in records])
        return
    t = Table(title=f"{len(records)} of {st.count(parse_filters(filters))} runs in {st.display_url}")
    for col in ("run id", "started (UTC)", "suite", "benchmark", "status", "headline"):
        t.add_column(col)
    for r in records:
        head = r.metrics[0] if r.metrics else None
        headline = f"{head.name} = {head.value:.4g} {head.unit}" + (" (noisy)" if head.noisy else "") if head else (r.error or "")[:60]
        t.add_row(r.run_id[:12], r.started_utc.strftime("%Y-%m-%d %H:%M:%S"), r.suite or "-", r.benchmark, r.status.value, headline)
    console.print(t)


def _summary(r) -> dict:  # type: ignore[no-untyped-def]
    return {
        "run_id": r.run_id,
        "benchmark": r.benchmark,
        "kind": r.kind,
        "suite": r.suite,
        "status": r.status.value,
        "started_utc": r.started_utc.isoformat(),
        "host_fingerprint": r.host_fingerprint,
        "metrics": {m.name: {"value": m.value, "unit": m.unit, "noisy": m.noisy} for m in r.metrics},
        "error": r.error,
    }


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one run: configuration, metrics with statistics, telemetry, errors."""
    r = open_store(store, create=False).get(run_id)
    if as_json:
        print_json(r.model_dump(mode="json"))
        return
    console.print(f"[bold]{r.benchmark}[/] ({r.kind}, suite {r.suite or '-'})  run {r.run_id}  status [bold]{r.status.value}[/]")
    console.print(f"started {r.started_utc.isoformat()}  took {r.duration_s:.2f} s  host {r.host_fingerprint}  source {r.source.value}")
    if r.error:
        console.print(f"[red]error:[/] {r.error}", markup=True, highlight=False)
    console.print("config: " + ", ".join(f"{k}={v}" for k, v in r.config.items()), markup=False)
    t = Table("metric", "value", "unit", "p50", "p99", "CV %", "% of peak", "noisy")
    for m in r.metrics:
        s = m.stats
        pct = m.pct_of_peak
        t.add_row(
            m.name, f"{m.value:.4g}", m.unit,
            f"{s['p50']:.4g}" if "p50" in s else "-", f"{s['p99']:.4g}" if "p99" in s else "-",
            f"{100 * s['cv']:.1f}" if "cv" in s else "-", f"{pct:.0f}" if pct is not None else "-",
            "yes" if m.noisy else "",
        )
    console.print(t)
    if r.telemetry:
        console.print("telemetry: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.telemetry.items()))


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(EXPORT_FORMATS)}.")] = "json",
    store: StoreOpt = None,
    filters: FilterOpt = None,
) -> None:
    """Export runs (all, or those matching --filter) to JSON, CSV or Parquet."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"--format: {fmt!r} is not supported; allowed: {', '.join(EXPORT_FORMATS)}")
    flt = parse_filters(filters)
    n = export_records(open_store(store, create=False).iter_records(flt), fmt, output)
    console.print(f"exported {n} runs to {output}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A capplan export (JSON/CSV/Parquet) or a supported external result file.")],
    store: StoreOpt = None,
) -> None:
    """Import runs from a file; runs already in the store (same run id) are skipped."""
    records = read_import_file(file)  # parse fully before touching the store
    st = open_store(store)
    added = st.add_many(records, skip_existing=True)
    console.print(f"imported {added} runs from {file} ({len(records) - added} already present) into {st.display_url}")
