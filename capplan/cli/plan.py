"""`capplan plan PLAN.yaml`: size, place and cost a capacity plan; write Markdown/HTML/CSV/JSON reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from capplan.cli.catalog import CatalogOpt, open_catalog
from capplan.cli.common import JsonOpt, StoreOpt, console, open_store, print_json

if TYPE_CHECKING:
    from capplan.planner.result import VerificationRow


def verification_table(rows: list[VerificationRow]) -> Table:
    """`plan --verify`: analytic and simulated p99 of each fleet at its peak, and the replicas added."""
    first = rows[0]
    t = Table(title=f"Verified sizing: FIFO simulation at the peak quarter, {first.seeds} seeds; simulated "
                    "p99 of all seeds pooled (95 % upper bound)")
    for col in ("workload", "accelerator", "peak", "req/s", "service ms (cv)", "SLO p99 ms", "slots",
                "analytic p99 ms", "simulated p99 ms", "requests/seed", "replicas added", "met"):
        t.add_column(col)
    for r in rows:
        slots = (f"{r.servers_analytic}" if r.servers_verified == r.servers_analytic
                 else f"{r.servers_analytic} -> {r.servers_verified}")
        simulated = (f"{r.simulated_p99_ms:.4g}" if r.servers_verified == r.servers_analytic
                     else f"{r.simulated_p99_ms_at_analytic:.4g} -> {r.simulated_p99_ms:.4g}")
        simulated += f" ({r.simulated_p99_upper_ms:.4g})"
        t.add_row(escape(r.workload), escape(r.accelerator), r.quarter, f"{r.arrival_per_s:.4g}",
                  f"{r.service_time_ms:.4g} ({r.service_time_cv:g})", f"{r.slo_p99_ms:g}", slots,
                  f"{r.analytic_p99_ms:.4g}", simulated, f"{r.requests_per_seed:,}", str(r.replicas_added),
                  "yes" if r.met else "NO")
    return t


def plan(
    plan_file: Annotated[Path, typer.Argument(help="Plan YAML (see examples/).", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write report.md, report.html, result.json and CSV tables here."),
    ] = None,
    no_sensitivity: Annotated[
        bool, typer.Option("--no-sensitivity", help="Skip the tornado and scenario re-optimisations.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Simulate each sized inference fleet at its peak (simpy, several "
                                      "seeds) and add replicas until the simulated p99 meets the SLO."),
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
        verify=verify,
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
    if result.verification:
        console.print(verification_table(result.verification))
    for r in result.reasons:
        console.print(f"- [bold]{escape(r.topic)}[/bold]: {escape(r.text)}", highlight=False, soft_wrap=True)
    if written:
        console.print(f"wrote {len(written)} files to {out}")
