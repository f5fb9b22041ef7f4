"""`capplan cost compare`: own vs rent per accelerator, $/GPU-hour, $/unit of work, break-even."""

from __future__ import annotations

from typing import Annotated, Any

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
    gpus: Annotated[int, typer.Option("--gpus", min=1, max=100_000, help="GPUs owned or rented.")] = 8,
    gpus_per_server: Annotated[
        int, typer.Option("--gpus-per-server", min=1, max=64, help="GPUs per owned server.")
    ] = 8,
    months: Annotated[int, typer.Option("--months", min=1, max=240, help="Months of cumulative cost.")] = 36,
    utilisation: Annotated[
        float | None, typer.Option("--utilisation", min=0.01, max=1.0, help="Busy share of owned GPUs.")
    ] = None,
    billing: Annotated[
        str,
        typer.Option(
            "--billing",
            help="How the rented fleet is billed: always_on (24 h a day) or autoscaled (busy hours plus "
            "the cloud.autoscale_floor_fraction warm floor).",
        ),
    ] = "always_on",
    grid: Annotated[
        float | None,
        typer.Option("--grid-gco2e-per-kwh", min=0.0, help="Grid intensity of the owned data centre."),
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="dtype for the projection.")] = "bf16",
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    max_price_age: MaxAgeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare owning vs renting each accelerator: $/GPU-hour, $/1k inferences, break-even month and
    utilisation. Every price shows its date; one older than --max-price-age days is flagged STALE."""
    from capplan.costs import (
        BILLING_MODES,
        CarbonAssumptions,
        CloudAssumptions,
        OnPremAssumptions,
        compare_hardware,
    )

    if billing not in BILLING_MODES:
        raise UserError(f"--billing: {billing!r}; allowed: {', '.join(BILLING_MODES)}")
    cat = open_catalog(catalog)
    prices = {cat.accelerator(k).name: v for k, v in _prices(gpu_price).items()}
    onprem = (
        OnPremAssumptions() if utilisation is None else OnPremAssumptions(utilisation_fraction=utilisation)
    )
    cloud = CloudAssumptions()
    carbon = CarbonAssumptions() if grid is None else CarbonAssumptions(onprem_grid_gco2e_per_kwh=grid)
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
                carbon=carbon,
                billing=billing,  # type: ignore[arg-type]
                gpu_price_usd=prices.get(acc.name),
                price_source=price_source if acc.name in prices else None,
                gpus=gpus,
                gpus_per_server=gpus_per_server,
                months=months,
                inferences_per_s_per_gpu=None if tokens else rate,
                tokens_per_s_per_gpu=rate if tokens else None,
                max_age_days=max_price_age,
            )
        )
    if as_json:
        print_json([r.model_dump(mode="json") for r in results])
        return
    _print_table(results, onprem.utilisation_fraction)


def _print_table(results: list[Any], utilisation: float) -> None:
    """Per accelerator a table of every option, then the numbered sources and the own-vs-rent summaries."""
    from capplan.costs import BILLING_MODE_TEXT, usd

    billing = results[0].billing_mode if results else "always_on"
    console.print(
        f"Own vs rent at {100 * utilisation:.0f} % busy; cloud billing: {billing} "
        f"({BILLING_MODE_TEXT[billing]}); hidden costs included",
        highlight=False,
    )
    sources: list[str] = []

    def ref(source: str) -> str:
        if source not in sources:
            sources.append(source)
        return f"[{sources.index(source) + 1}]"

    for r in results:
        units = [u for u in (r.onprem_unit, *(o.unit for o in r.cloud)) if u is not None]
        work = [
            (label, attr)
            for label, attr in (("$/1k inf", "per_1k_inferences"), ("$/1M tok", "per_1m_tokens"))
            if any(getattr(u, attr) is not None for u in units)
        ]
        t = Table(title=r.accelerator)
        # Narrow terminals wrap names and dates, never cut a figure, a name or a date.
        t.add_column(r"option \[sources]", overflow="fold")
        for col in ("$/GPU-h", "$/busy GPU-h", *(label for label, _ in work), "kgCO2e per busy GPU-h"):
            t.add_column(col, min_width=8, overflow="fold")
        t.add_column("price date", min_width=10, overflow="fold")
        if r.onprem_usd_per_gpu_hour is not None and r.onprem_unit is not None:
            t.add_row(
                "on-prem (owned) " + ref(r.onprem_price_source or "") + ref(r.onprem_carbon_source or ""),
                "-",
                f"{r.onprem_usd_per_gpu_hour:.2f}",
                *(_opt(getattr(r.onprem_unit, attr)) for _, attr in work),
                f"{r.onprem_carbon.per_gpu_hour:.3f}",
                r.onprem_price_short_label or "-",
            )
        for o in r.cloud:
            t.add_row(
                f"{o.pricing_model} {o.instance}" + (" (derived)" if o.derived else "") + " "
                + ref(o.source) + ref(o.carbon_source),
                f"{o.usd_per_gpu_hour_all_in:.2f}",
                f"{o.usd_per_busy_gpu_hour:.2f}",
                *(_opt(getattr(o.unit, attr)) for _, attr in work),
                f"{o.carbon.per_gpu_hour:.3f}",
                o.price_short_label,
            )
        console.print(t)
    for i, source in enumerate(sources, 1):
        console.print(f"[{i}] {source}", markup=False, highlight=False, soft_wrap=True)
    for r in results:
        c = r.comparison
        util = f"{100 * r.break_even_utilisation:.0f} %" if r.break_even_utilisation else "n/a"
        if c is None:
            console.print(f"{r.accelerator}: " + "; ".join(r.notes), highlight=False, soft_wrap=True)
            continue
        months = len(c.onprem.monthly_usd)
        be = f"month {c.break_even_month}" if c.break_even_month else f"not within {months} months"
        console.print(
            f"{r.accelerator}, {months} months vs {c.cloud.label}: "
            f"on-prem {usd(c.onprem.cumulative_usd[-1])} "
            f"net of a {usd(c.onprem.residual_credit_usd)} residual (book value) credit, "
            f"{c.onprem.carbon_kg / 1000:,.1f} t CO2e; cloud {usd(c.cloud.cumulative_usd[-1])}, "
            f"{c.cloud.carbon_kg / 1000:,.1f} t CO2e. Break-even {be}; NPV of owning at "
            f"{100 * c.discount_rate_per_year:g} %/year {usd(c.npv_savings_usd)}; owning beats autoscaled "
            f"renting above {util} busy. " + "; ".join(r.notes),
            highlight=False,
            soft_wrap=True,
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
