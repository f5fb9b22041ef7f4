"""``capplan catalog check``: every problem in the catalog in use, one finding per row and field.

Errors make a row unusable: a field that fails validation (negative or NaN price, a date that is not
YYYY-MM-DD or lies in the future, no source), an instance whose ``gpu_name`` or a purchase price whose
``accelerator`` matches no accelerator, an instance whose provider and region have no regions row.
Warnings leave the row in use: a price older than the age
limit (capplan.catalog.freshness) and a price its own notes mark SUSPECT.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from capplan.catalog.freshness import max_price_age_days
from capplan.catalog.loader import Catalog, Finding, load_catalog, purchase_key
from capplan.catalog.models import PRICE_MODELS
from capplan.catalog.regions import missing_instance_regions

SUSPECT_MARK = "SUSPECT"


def check_catalog(
    paths: list[Path] | None = None,
    *,
    user_dir: bool = True,
    max_age_days: int | None = None,
    today: date | None = None,
) -> tuple[Catalog, list[Finding]]:
    """The catalog (bad rows left out) and every finding: errors first, then warnings."""
    findings: list[Finding] = []
    cat = load_catalog(paths, user_dir=user_dir, findings=findings)
    limit = max_price_age_days(max_age_days)
    warnings: list[Finding] = []
    for inst in cat.instances:
        origin, number = cat.origins.get(("instances", inst.key), ("catalog", None))
        seen = set()
        for model in PRICE_MODELS:
            if inst.price_usd_per_hour(model) is None:  # type: ignore[arg-type]
                continue
            age = inst.price_age(model, max_age_days=limit, today=today)  # type: ignore[arg-type]
            own_date = model.startswith("reserved") and inst.reserved_price_date
            field = "reserved_price_date" if own_date else "price_date"
            if age.stale and field not in seen:
                seen.add(field)
                warnings.append(Finding("warning", origin, "instances", number, field,
                                        f"{inst.provider} {inst.instance} {inst.region}: {age.label()}; "
                                        "re-check the price or refresh the catalog"))
        if inst.notes and SUSPECT_MARK in inst.notes:
            warnings.append(Finding("warning", origin, "instances", number, "notes",
                                    f"{inst.provider} {inst.instance} {inst.region}: the row's notes mark "
                                    "its price SUSPECT (see `capplan catalog list instances --json`)"))
    for inst in missing_instance_regions(cat):
        origin, number = cat.origins.get(("instances", inst.key), ("catalog", None))
        findings.append(Finding("error", origin, "instances", number, "region",
                                f"{inst.provider} {inst.instance} {inst.region}: instance region not in "
                                "regions.csv (add a regions row with country_iso2, source and source_date)"))
    for row, origin in cat.purchase_rows:
        age = row.price_age(max_age_days=limit, today=today)
        if age.stale:
            number = cat.origins.get(("purchase_prices", purchase_key(row.model_dump())), (origin, None))[1]
            warnings.append(Finding("warning", origin, "purchase_prices", number, "source_date",
                                    f"{row.accelerator} ({row.source}): {age.label()}; get a current quote"))
    return cat, findings + warnings
