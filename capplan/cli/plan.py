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
    from capplan.costs import usd
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
    alts = {a.alternative: a for a in result.alternatives}
    labels = (("recommended", "Recommended"), ("all_cloud", "All-cloud"), ("all_onprem", "All-on-prem"))
    for name, label in labels:
        a = alts[name]
        t.add_row(f"{label} (net)", f"{usd(a.net_usd)}; {a.carbon_tonnes:,.1f} tCO2e")
    t.add_row(
        "Break-even vs all-cloud",
        f"month {result.break_even_month}" if result.break_even_month else "not within horizon",
    )
    t.add_row("NPV of savings vs all-cloud", usd(result.npv_savings_vs_all_cloud_usd))
    t.add_row("Cloud share of demand", f"{100 * result.cloud_share:.0f} %")
    if result.carbon_price_usd_per_tonne or result.carbon_cap_tonnes_per_year is not None:
        cap = result.carbon_cap_tonnes_per_year
        t.add_row("Carbon policy", f"{usd(result.carbon_price_usd_per_tonne)}/t"
                  + (f"; cap {cap:,.0f} t/year" if cap is not None else ""))
    t.add_row("Solver", f"gap {100 * result.solver_gap:.2f} % (proven), {result.solver_seconds:.2f} s")
    console.print(t)
    buys = Table(title="Purchases (procurement view)")
    for col in ("what", "units", "GPUs", "in service", "order by", "upfront USD"):
        buys.add_column(col)
    for b in result.purchases:
        buys.add_row(b.what, str(b.units), str(b.gpus), b.in_service, b.order_by, usd(b.upfront_usd))
    console.print(buys)
    for r in result.reasons:
        console.print(f"- [bold]{escape(r.topic)}[/bold]: {escape(r.text)}", highlight=False, soft_wrap=True)
    if written:
        console.print(f"wrote {len(written)} files to {out}")
