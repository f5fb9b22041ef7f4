"""`capplan cost compare`: own vs rent per accelerator, $/GPU-hour, $/unit of work, break-even."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from capplan.cli.catalog import CatalogOpt, MaxAgeOpt, open_catalog
from capplan.cli.common import JsonOpt, StoreOpt, console, print_json, reading_store
from capplan.errors import UserError

app = typer.Typer(help="Cloud vs on-prem cost models.", no_args_is_help=True)


def _prices(items: list[str] | None) -> dict[str, float]:
    out = {}
    for item in items or []:
        name, sep, value = item.rpartition("=")
        try:
            price = float(value)
        except ValueError:
            price = -1.0
        if not sep or not name or not price > 0 or price == float("inf"):
            raise UserError(
                f"--gpu-price: {item!r} must be ACCELERATOR=USD with USD > 0, e.g. 'H100 SXM=25000'"
            )
        out[name] = price
    return out


@app.command("compare")
def compare(
    hardware: Annotated[
        list[str], typer.Option("--hardware", "-H", help="Catalog accelerator (repeatable).")
    ],
    workload: Annotated[
        str | None,
        typer.Option(
            "--workload", "-w", help="Workload name or stored run id to project for $/unit of work."
        ),
    ] = None,
    gpu_price: Annotated[
        list[str] | None,
        typer.Option("--gpu-price", help="ACCELERATOR=USD purchase price per GPU (repeatable)."),
    ] = None,
    price_source: Annotated[
        str, typer.Option("--price-source", help="Where --gpu-price figures come from.")
    ] = "--gpu-price on the command line",
    gpus: Annotated[
        int, typer.Option("--gpus", min=1, max=64, help="GPUs per server / fleet size compared.")
    ] = 8,
    months: Annotated[int, typer.Option("--months", min=1, max=240, help="Months of cumulative cost.")] = 36,
    utilisation: Annotated[
        float | None, typer.Option("--utilisation", min=0.01, max=1.0, help="Busy share of owned GPUs.")
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="dtype for the projection.")] = "bf16",
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    max_price_age: MaxAgeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare owning vs renting each accelerator: $/GPU-hour, $/1k inferences, break-even month and
    utilisation. Every price shows its date; one older than --max-price-age days is flagged STALE."""
    from capplan.costs import CloudAssumptions, OnPremAssumptions, compare_hardware

    cat = open_catalog(catalog)
    prices = {cat.accelerator(k).name: v for k, v in _prices(gpu_price).items()}
    onprem = (
        OnPremAssumptions() if utilisation is None else OnPremAssumptions(utilisation_fraction=utilisation)
    )
    cloud = CloudAssumptions()
    results = []
    st = reading_store(store) if workload else None
    for name in hardware:
        acc = cat.accelerator(name)
        rate = None
        if workload:
            from capplan.perfmodel import project

            proj = project(workload, acc.name, 1, dtype=dtype, catalog=cat, store=st)
            rate = proj.throughput_per_s / max(proj.count, 1)
        tokens = bool(workload) and rate is not None and "token" in proj.throughput_unit
        results.append(
            compare_hardware(
                acc,
                cat,
                onprem,
                cloud,
                gpu_price_usd=prices.get(acc.name),
                price_source=price_source if acc.name in prices else None,
                gpus=gpus,
                months=months,
                inferences_per_s_per_gpu=None if tokens else rate,
                tokens_per_s_per_gpu=rate if tokens else None,
                max_age_days=max_price_age,
            )
        )
    if as_json:
        print_json([r.model_dump(mode="json") for r in results])
        return
    t = Table(title="Own vs rent (per busy GPU-hour; hidden costs included)")
    for col in ("accelerator", "option", "$/GPU-h", "$/1k inf", "$/1M tok", "price date", "src"):
        t.add_column(col)
    sources: list[str] = []

    def ref(source: str) -> str:
        if source not in sources:
            sources.append(source)
        return f"[{sources.index(source) + 1}]"

    for r in results:
        if r.onprem_usd_per_gpu_hour is not None and r.onprem_unit is not None:
            t.add_row(
                r.accelerator,
                f"on-prem ({100 * onprem.utilisation_fraction:.0f} % busy)",
                f"{r.onprem_usd_per_gpu_hour:.2f}",
                _opt(r.onprem_unit.usd_per_1k_inferences),
                _opt(r.onprem_unit.usd_per_1m_tokens),
                r.onprem_price_short_label or "-",
                ref(r.onprem_price_source or ""),
            )
        for o in r.cloud:
            t.add_row(
                r.accelerator,
                f"{o.pricing_model} {o.instance}" + (" (derived)" if o.derived else ""),
                f"{o.usd_per_gpu_hour_all_in:.2f}",
                _opt(o.unit.usd_per_1k_inferences),
                _opt(o.unit.usd_per_1m_tokens),
                o.price_short_label,
                ref(o.source),
            )
    console.print(t)
    for i, source in enumerate(sources, 1):
        console.print(f"[{i}] {source}", markup=False, highlight=False, soft_wrap=True)
    for r in results:
        be = (
            f"month {r.comparison.break_even_month}"
            if r.comparison and r.comparison.break_even_month
            else "not within the period"
        )
        util = f"{100 * r.break_even_utilisation:.0f} %" if r.break_even_utilisation else "n/a"
        console.print(
            f"{r.accelerator}: break-even vs on-demand {be}; break-even utilisation {util}"
            + "".join(f"; {n}" for n in r.notes),
            highlight=False,
        )
    stale = sum(o.price_stale for r in results for o in r.cloud) + sum(r.onprem_price_stale for r in results)
    if stale:
        console.print(
            f"{stale} price(s) above are STALE (older than the price-age limit): re-check them or refresh "
            "the catalog (`capplan catalog import-skypilot`, a purchase quote via --gpu-price).",
            highlight=False,
        )


def _opt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"
