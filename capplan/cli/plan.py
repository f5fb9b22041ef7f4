"""`capplan plan PLAN.yaml`: size, place and cost a capacity plan and write its reports;
`capplan plan diff OLD_RESULT.json NEW_RESULT.json`: compare two revisions of a plan."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from capplan.cli.catalog import CatalogOpt, open_catalog
from capplan.cli.common import JsonOpt, StoreOpt, console, err_console, print_json


class _RunByDefault(TyperGroup):
    """`capplan plan PLAN.yaml ...` is short for `capplan plan run PLAN.yaml ...`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Plan capacity (`capplan plan PLAN.yaml`, short for `plan run`) or compare two plan revisions "
    "(`capplan plan diff OLD.json NEW.json`).",
)

FORMAT_HELP = (
    "Report file to write with --out (repeat for several): md, html (with charts), xlsx, csv, json "
    "(result.json, what `plan diff` reads), pdf (printed by headless Chromium; skipped with a message "
    "when none is installed). Default: all but pdf."
)


@app.command("run")
def plan(
    plan_file: Annotated[Path, typer.Argument(help="Plan YAML (see examples/).", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the reports (report.md/.html/.xlsx, result.json, CSVs) here."),
    ] = None,
    formats: Annotated[
        list[str] | None, typer.Option("--format", help=FORMAT_HELP, show_default=False)
    ] = None,
    no_sensitivity: Annotated[
        bool, typer.Option("--no-sensitivity", help="Skip the tornado and scenario re-optimisations.")
    ] = False,
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan capacity: SLO-aware sizing, hybrid placement, purchase schedule, costs, reasons."""
    from capplan.cli.common import open_store
    from capplan.costs import usd
    from capplan.errors import UserError
    from capplan.planner import load_plan, run_plan
    from capplan.reports import DEFAULT_FORMATS, report_formats, write_reports

    chosen = report_formats(formats or DEFAULT_FORMATS)  # before planning: a typo fails fast
    if formats and out is None:
        raise UserError("--format needs --out DIR: the directory the report files go to")
    p = load_plan(plan_file)
    needs_store = store is not None or any(w.model.run_id for w in p.workloads)
    result = run_plan(
        p,
        open_catalog(catalog),
        open_store(store, create=False) if needs_store else None,
        sensitivity=not no_sensitivity,
    )

    def notice(text: str) -> None:
        err_console.print(f"note: {text}", markup=False, highlight=False, soft_wrap=True)

    written = write_reports(result, out, chosen, notice) if out is not None else []
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    t = Table(title=f"Plan: {result.plan_name}", show_header=False)
    alts = {a.alternative: a for a in result.alternatives}
    labels = (("recommended", "Recommended"), ("all_cloud", "All-cloud"), ("all_onprem", "All-on-prem"))
    for name, label in labels:
        a = alts[name]
        unserved = (f"; leaves {a.unserved_workload_quarters} workload-quarter(s) UNSERVED"
                    if a.unserved_workload_quarters else "")
        t.add_row(f"{label} (net)", f"{usd(a.net_usd)}; {a.carbon_tonnes:,.1f} tCO2e{unserved}")
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
    first = result.quarters[0]
    for row in (r for r in result.sizing if r.sized_by == "TTFT/TPOT" and r.quarter == first):
        console.print(f"- [bold]sizing {escape(row.workload)} on {escape(row.accelerator)} by TTFT/TPOT"
                      f"[/bold]: {escape(row.source)}", highlight=False, soft_wrap=True)
    for r in result.reasons:
        console.print(f"- [bold]{escape(r.topic)}[/bold]: {escape(r.text)}", highlight=False, soft_wrap=True)
    if written:
        console.print(f"wrote {len(written)} files to {out}")


@app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(help="result.json of the earlier revision.", show_default=False)],
    new: Annotated[Path, typer.Argument(help="result.json of the later revision.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Compare two revisions of a plan (two result.json files).

    What changed in demand, prices, assumptions and settings; purchases added, removed, moved or resized.

    The change in net cost and break-even, with the reasons (the planner's, and where the cost moved).
    """
    from capplan.planner.result_file import read_result_file
    from capplan.views.plan_diff import DIFF_SECTIONS, diff_results

    d = diff_results(read_result_file(old), read_result_file(new), str(old), str(new))
    if as_json:
        print_json(d.to_json())
        return
    console.print(f"[bold]Plan {escape(d.new.plan_name)}[/bold]: {escape(str(old))} ({d.old.generated_utc})"
                  f" -> {escape(str(new))} ({d.new.generated_utc})", highlight=False)
    for line in d.summary:
        console.print(f"- {escape(line)}", highlight=False, soft_wrap=True)
    for name, title in DIFF_SECTIONS.items():
        frame = getattr(d, name)
        if frame.empty:
            continue
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(col, overflow="fold")
        for row in frame.itertuples(index=False):
            table.add_row(*(escape(_cell(v)) for v in row))
        console.print(table)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)
