"""`capplan plan PLAN.yaml`: size, place and cost a capacity plan; write Markdown/HTML/CSV/JSON reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from capplan.cli.catalog import CatalogOpt, open_catalog
from capplan.cli.common import JsonOpt, StoreOpt, console, open_store, print_json


def plan(
    plan_file: Annotated[Path, typer.Argument(help="Plan YAML (see examples/).", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write report.md, report.html, result.json and CSV tables here."),
    ] = None,
    no_sensitivity: Annotated[
        bool, typer.Option("--no-sensitivity", help="Skip the tornado and scenario re-optimisations.")
    ] = False,
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan capacity: SLO-aware sizing, hybrid placement, purchase schedule, costs, reasons."""
    from capplan.planner import load_plan, run_plan
    from capplan.reports import write_reports

    p = load_plan(plan_file)
    needs_store = store is not None or any(w.model.run_id for w in p.workloads)
    result = run_plan(
        p,
        open_catalog(catalog),
        open_store(store, create=False) if needs_store else None,
        sensitivity=not no_sensitivity,
    )
    written = write_reports(result, out) if out is not None else []
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    t = Table(title=f"Plan: {result.plan_name}", show_header=False)
    t.add_row("Recommended (net)", f"${result.recommended_net_usd:,.0f}")
    t.add_row("All-cloud (net)", f"${result.all_cloud_net_usd:,.0f}")
    t.add_row("All-on-prem (net)", f"${result.all_onprem_net_usd:,.0f}")
    t.add_row(
        "Break-even vs all-cloud",
        f"month {result.break_even_month}" if result.break_even_month else "not within horizon",
    )
    t.add_row("NPV of savings vs all-cloud", f"${result.npv_savings_vs_all_cloud_usd:,.0f}")
    t.add_row("Cloud share of demand", f"{100 * result.cloud_share:.0f} %")
    console.print(t)
    buys = Table(title="Purchases (procurement view)")
    for col in ("what", "units", "GPUs", "in service", "order by", "upfront USD"):
        buys.add_column(col)
    for b in result.purchases:
        buys.add_row(b.what, str(b.units), str(b.gpus), b.in_service, b.order_by, f"{b.upfront_usd:,.0f}")
    console.print(buys)
    first = result.quarters[0]
    for row in (r for r in result.sizing if r.sized_by == "TTFT/TPOT" and r.quarter == first):
        console.print(f"- [bold]sizing {escape(row.workload)} on {escape(row.accelerator)} by TTFT/TPOT"
                      f"[/bold]: {escape(row.source)}", highlight=False, soft_wrap=True)
    for r in result.reasons:
        console.print(f"- [bold]{escape(r.topic)}[/bold]: {escape(r.text)}", highlight=False, soft_wrap=True)
    if written:
        console.print(f"wrote {len(written)} files to {out}")
