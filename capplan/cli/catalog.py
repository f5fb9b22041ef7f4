"""`capplan catalog ...`: list accelerators, cloud instances, purchase prices and cloud regions; check
the catalog; import SkyPilot catalog snapshots."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from capplan.catalog import Catalog, CloudInstance, load_catalog, user_catalog_dir
from capplan.catalog.skypilot import ImportResult
from capplan.cli.common import JsonOpt, console, err_console, print_json
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


MaxAgeOpt = Annotated[
    int | None,
    typer.Option(
        "--max-price-age",
        min=1,
        help="Days after which a price counts as stale (default: $CAPPLAN_MAX_PRICE_AGE_DAYS, else 180).",
        show_default=False,
    ),
]


class CatalogTable(StrEnum):
    accelerators = "accelerators"
    instances = "instances"
    purchase_prices = "purchase-prices"
    regions = "regions"


def open_catalog(paths: list[Path] | None) -> Catalog:
    """The shipped catalog with user-dir and ``--catalog`` overrides applied."""
    return load_catalog(paths)


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@app.command("list")
def list_rows(
    table: Annotated[
        CatalogTable, typer.Argument(help="accelerators, instances, purchase-prices or regions")
    ],
    catalog: CatalogOpt = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="Instances with this accelerator only.")] = None,
    max_price_age: MaxAgeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List catalog rows with their sources and dates (prices with their date and age flag)."""
    cat = open_catalog(catalog)
    if table is CatalogTable.purchase_prices:
        _list_purchase_prices(cat, max_price_age, as_json)
        return
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
        rows = [_instance_row(i, max_price_age) for i in insts]
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
            "price_short_label": "price date",
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


def _instance_row(inst: CloudInstance, max_age_days: int | None) -> dict[str, object]:
    """The row's fields plus its on-demand price age (reserved prices may carry their own date)."""
    age = inst.price_age(max_age_days=max_age_days)
    row: dict[str, object] = inst.model_dump()
    row.update(
        price_label=age.label(), price_short_label=age.short_label(), price_age_days=age.age_days,
        price_stale=age.stale,
    )
    if inst.reserved_price_date:
        reserved = inst.price_age("reserved_1y", max_age_days=max_age_days)
        row.update(reserved_price_label=reserved.label(), reserved_price_stale=reserved.stale)
    return row


def _list_purchase_prices(cat: Catalog, max_age_days: int | None, as_json: bool) -> None:
    """Each accelerator's purchase price in use: range, midpoint, sources, date."""
    prices = [
        p for a in cat.accelerators for unit in ("gpu", "server") if (p := cat.purchase_price(a.name, unit))
    ]
    ages = [p.price_age(max_age_days=max_age_days) for p in prices]
    if as_json:
        print_json([
            {**p.model_dump(mode="json"), "price_label": age.label(), "price_stale": age.stale}
            for p, age in zip(prices, ages, strict=True)
        ])
        return
    t = Table(title=f"{len(prices)} purchase prices (each range's midpoint is used: replace it with a quote)")
    for label in ("accelerator", "unit", "low $", "high $", "mid $ (used)", "price date", "sources"):
        t.add_column(label, overflow="fold")
    for p, age in zip(prices, ages, strict=True):
        unit = "GPU" if p.unit == "gpu" else f"{p.gpus_per_unit}-GPU server"
        money = (f"{p.low_usd:,.0f}", f"{p.high_usd:,.0f}", f"{p.mid_usd:,.0f}")
        t.add_row(p.accelerator, unit, *money, age.short_label(), p.source)
    console.print(t)
    console.print("Override with your quote: a purchase_prices row in a --catalog file, or --gpu-price.")


@app.command("check")
def check(
    catalog: CatalogOpt = None,
    max_price_age: MaxAgeOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on warnings (stale or suspect prices) too.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List stale prices, suspect prices, rows without a source or with bad fields, and instances or
    purchase prices naming no known accelerator. Exit 2 on errors (with --strict, 1 on warnings)."""
    from capplan.catalog.check import check_catalog

    cat, findings = check_catalog(catalog, max_age_days=max_price_age)
    errors = [f for f in findings if f.severity == "error"]
    if as_json:
        print_json([{**f.__dict__, "line": f.line()} for f in findings])
    else:
        for f in findings:
            (err_console if f.severity == "error" else console).print(
                f"{f.severity}: {f.line()}", markup=False, highlight=False, soft_wrap=True
            )
        console.print(
            f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s) in {len(cat.accelerators)} "
            f"accelerators, {len(cat.instances)} instances, {len(cat.purchase_rows)} purchase prices"
            + (f" (overrides: {', '.join(cat.files)})" if cat.files else ""),
            markup=False, highlight=False,
        )
    if errors:
        raise typer.Exit(2)
    if strict and findings:
        raise typer.Exit(1)


@app.command("import-skypilot")
def import_skypilot(
    source: Annotated[
        Path,
        typer.Argument(help="A skypilot-org/skypilot-catalog checkout, or one catalogs/vN/<cloud>/vms.csv."),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff; write nothing.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "-o", "--out", help="Override file to write (default: skypilot-import.csv in the user "
            "catalog dir, which every later command reads)."
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="Only this cloud (aws, gcp, azure, lambda, nebius, oci)."),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region", help="Import these regions (repeatable; default: the regions the catalog already "
            "lists for each cloud)."
        ),
    ] = None,
    all_regions: Annotated[bool, typer.Option("--all-regions", help="Import every region.")] = False,
    note: Annotated[
        str | None, typer.Option("--note", help="Provenance to add to each row's source.")
    ] = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refresh instance prices from a SkyPilot catalog snapshot: diff (changed, added, removed, % price
    change) against the catalog in use, then write the rows as a user override file."""
    from capplan.catalog.skypilot import find_snapshots, import_snapshots, write_instances_csv

    cat = open_catalog(catalog)
    snaps = find_snapshots(source, provider)
    result = import_snapshots(snaps, cat, regions=region, all_regions=all_regions, note=note)
    target = None if dry_run else (out or user_catalog_dir() / "skypilot-import.csv")
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8", newline="") as fh:
                write_instances_csv(result.rows, fh)
        except OSError as exc:
            raise UserError(f"-o: cannot write {target}: {exc.strerror or exc}") from exc
    summary = import_summary(result, target)
    if as_json:
        print_json(summary)
    else:
        _print_import(summary)


PRICE_LABELS = {"on_demand_usd_per_hour": "on-demand", "spot_usd_per_hour": "spot"}


def import_summary(result: ImportResult, target: Path | None) -> dict[str, Any]:
    """The import's diff as plain data: per changed row, old and new price and % change per price."""
    from capplan.catalog.skypilot import percent_change

    def where(row: CloudInstance) -> str:
        return f"{row.provider} {row.instance} {row.region}"

    changed = []
    for old, new in result.changed:
        prices = {}
        for name, label in PRICE_LABELS.items():
            a, b = getattr(old, name), getattr(new, name)
            if a != b:
                prices[label] = {"old": a, "new": b, "pct": percent_change(a, b)}
        changed.append({"provider": new.provider, "instance": new.instance, "region": new.region, **prices})
    return {
        "snapshots": [
            {"provider": s.provider, "file": s.name, "commit": s.commit, "commit_date": s.commit_date}
            for s in result.snapshots
        ],
        "changed": changed,
        "added": [where(r) for r in result.added],
        "removed": [where(r) for r in result.removed],
        "unchanged": len(result.unchanged),
        "skipped": result.skipped,
        "written": None if target is None else str(target),
        "rows_written": 0 if target is None else len(result.rows),
    }


def _print_import(summary: dict[str, Any]) -> None:
    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    for s in summary["snapshots"]:
        when = f"commit {s['commit'][:8]} of {s['commit_date']}" if s["commit"] else "not a git checkout"
        say(f"{s['provider']}: {s['file']} ({when})")
    if summary["changed"]:
        t = Table(title=f"{len(summary['changed'])} rows change price")
        for col in ("provider", "instance", "region", "price", "old $/h", "new $/h", "change"):
            t.add_column(col)
        for c in summary["changed"]:
            for label in PRICE_LABELS.values():
                if label in c:
                    d = c[label]
                    pct = "-" if d["pct"] is None else f"{d['pct']:+.1f} %"
                    prices = (_fmt(d["old"]), _fmt(d["new"]), pct)
                    t.add_row(c["provider"], c["instance"], c["region"], label, *prices)
        console.print(t)
    if summary["added"]:
        say(f"{len(summary['added'])} added: " + ", ".join(summary["added"]))
    if summary["removed"]:
        say(f"{len(summary['removed'])} removed (not in the snapshot; they stay in the catalog, delete them "
            "by hand if retired): " + ", ".join(summary["removed"]))
    written = summary["written"]
    say(
        f"{len(summary['changed'])} changed, {len(summary['added'])} added, "
        f"{len(summary['removed'])} removed, "
        f"{summary['unchanged']} unchanged (re-dated), {len(summary['skipped'])} skipped; "
        + (f"wrote {summary['rows_written']} rows to {written}" if written else "dry run: nothing written")
    )
    for line in summary["skipped"]:
        err_console.print(f"skipped: {line}", markup=False, highlight=False, soft_wrap=True)
