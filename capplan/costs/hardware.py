"""Compare owning vs renting one accelerator type: $/GPU-hour, unit costs, break-even, cumulative series."""

from __future__ import annotations

from pydantic import BaseModel, Field

from capplan.catalog import Accelerator, Catalog
from capplan.costs.cloud import CloudAssumptions, PricingModel, cloud_gpu_hour_cost_usd, cloud_price
from capplan.costs.compare import (
    Comparison,
    UnitCosts,
    break_even_utilisation,
    compare_onprem_cloud,
    unit_costs,
)
from capplan.costs.onprem import OnPremAssumptions, ServerConfig, onprem_gpu_hour_cost_usd, server_tco


class CloudOffer(BaseModel):
    pricing_model: str
    instance: str
    usd_per_gpu_hour: float
    usd_per_gpu_hour_all_in: float
    derived: bool
    source: str
    unit: UnitCosts
    price_label: str = ""
    price_short_label: str = ""
    price_stale: bool = False


class HardwareComparison(BaseModel):
    """One accelerator: on-prem TCO per busy GPU-hour vs the cheapest cloud offer per pricing model."""

    accelerator: str
    accelerator_source: str
    onprem_usd_per_gpu_hour: float | None
    onprem_price_source: str | None
    onprem_unit: UnitCosts | None
    onprem_price_low_usd: float | None = None
    onprem_price_high_usd: float | None = None
    onprem_price_usd: float | None = Field(
        None, description="per-GPU purchase price used (catalog midpoint or your quote)"
    )
    onprem_price_label: str | None = Field(None, description="date of the purchase price and STALE flag")
    onprem_price_short_label: str | None = None
    onprem_price_stale: bool = False
    cloud: list[CloudOffer]
    break_even_utilisation: float | None
    comparison: Comparison | None
    notes: list[str]


def compare_hardware(
    acc: Accelerator,
    catalog: Catalog,
    onprem: OnPremAssumptions,
    cloud: CloudAssumptions,
    *,
    gpu_price_usd: float | None = None,
    price_source: str | None = None,
    gpus: int = 8,
    months: int = 36,
    pricing_models: tuple[PricingModel, ...] = ("on_demand", "reserved_1y", "reserved_3y", "spot"),
    inferences_per_s_per_gpu: float | None = None,
    tokens_per_s_per_gpu: float | None = None,
    max_age_days: int | None = None,
) -> HardwareComparison:
    """Cost of ``gpus`` x ``acc`` owned (if a price is known) vs rented, with the series and break-even
    month. Without ``gpu_price_usd`` the catalog's purchase price (midpoint of its cited range) is used."""
    notes = []
    offers: list[CloudOffer] = []
    best_on_demand = None
    rates = {
        "inferences_per_s_per_gpu": inferences_per_s_per_gpu,
        "tokens_per_s_per_gpu": tokens_per_s_per_gpu,
    }
    instances = catalog.instances_for(acc.name)
    for model in pricing_models:
        prices = [
            p
            for p in (cloud_price(i, model, cloud, max_age_days=max_age_days) for i in instances)
            if p is not None
        ]
        if not prices:
            notes.append(f"no {model} price for {acc.name} in the catalog")
            continue
        best = min(prices, key=lambda p: cloud_gpu_hour_cost_usd(p, cloud))
        all_in = cloud_gpu_hour_cost_usd(best, cloud)
        offers.append(
            CloudOffer(
                pricing_model=model,
                instance=f"{best.provider} {best.instance} {best.region}",
                usd_per_gpu_hour=best.usd_per_gpu_hour,
                usd_per_gpu_hour_all_in=all_in,
                derived=best.derived,
                source=best.source,
                unit=unit_costs(all_in, **rates),
                price_label=best.price_label,
                price_short_label=best.price_short_label,
                price_stale=best.price_stale,
            )
        )
        if model == "on_demand":
            best_on_demand = best
    cited = None if gpu_price_usd is not None else catalog.purchase_price(acc.name)
    age = cited.price_age(max_age_days=max_age_days) if cited else None
    price = gpu_price_usd if cited is None else cited.mid_usd
    source = price_source if cited is None else cited.describe(max_age_days=max_age_days)
    quote = {
        "onprem_price_usd": price,
        "onprem_price_low_usd": cited.low_usd if cited else price,
        "onprem_price_high_usd": cited.high_usd if cited else price,
        "onprem_price_label": age.label() if age else None if price is None else "your figure (--gpu-price)",
        "onprem_price_short_label": age.short_label() if age else None if price is None else "your figure",
        "onprem_price_stale": bool(age and age.stale),
    }
    if price is None:
        notes.append(
            f"{acc.name}: no cited purchase price; on-prem not costed (pass --gpu-price with a source)"
        )
    elif acc.tdp_w is None:
        notes.append(f"{acc.name}: the catalog has no TDP, so power cannot be costed; on-prem not costed")
    if price is None or acc.tdp_w is None:
        return HardwareComparison(
            accelerator=acc.name,
            accelerator_source=f"{acc.source} ({acc.source_date})",
            onprem_usd_per_gpu_hour=None,
            onprem_price_source=None,
            onprem_unit=None,
            cloud=offers,
            break_even_utilisation=None,
            comparison=None,
            notes=notes,
            **quote,
        )
    server = ServerConfig(
        accelerator=acc.name,
        gpus_per_server=gpus,
        gpu_price_usd=price,
        gpu_tdp_w=acc.tdp_w,
        price_source=source or "",
    )
    tco = server_tco(server, onprem)
    per_hour = onprem_gpu_hour_cost_usd(tco, onprem)
    comparison = None
    be_util = None
    if best_on_demand is not None:
        be_util = break_even_utilisation(tco, onprem, cloud_gpu_hour_cost_usd(best_on_demand, cloud))
        comparison = compare_onprem_cloud(
            tco,
            onprem,
            best_on_demand,
            cloud,
            gpus=gpus,
            months=months,
            label_onprem=acc.name,
            server_source=source or "",
        )
    return HardwareComparison(
        accelerator=acc.name,
        accelerator_source=f"{acc.source} ({acc.source_date})",
        onprem_usd_per_gpu_hour=per_hour,
        onprem_price_source=source,
        onprem_unit=unit_costs(per_hour, **rates),
        cloud=offers,
        break_even_utilisation=be_util,
        comparison=comparison,
        notes=notes,
        **quote,
    )
