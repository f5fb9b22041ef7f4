"""Own vs rent one accelerator type: cost and emissions per busy GPU-hour and per unit of work, the
cheapest cloud offer per pricing model, the cumulative series, break-even and NPV."""

from __future__ import annotations

from pydantic import BaseModel, Field

from capplan.catalog import Accelerator, Catalog
from capplan.costs import engine
from capplan.costs.carbon import CarbonAssumptions
from capplan.costs.cloud import PRICING_MODELS, CloudAssumptions, CloudPrice, PricingModel
from capplan.costs.compare import Comparison, compare_onprem_cloud, fleet_billed_gpu_hours
from capplan.costs.engine import BillingMode, PerUnit
from capplan.costs.finance import HOURS_PER_MONTH
from capplan.costs.onprem import OnPremAssumptions, ServerConfig


class CloudOffer(BaseModel):
    pricing_model: str
    instance: str
    usd_per_gpu_hour: float
    usd_per_gpu_hour_all_in: float
    usd_per_busy_gpu_hour: float
    derived: bool
    source: str
    price_date: str | None
    unit: PerUnit
    carbon: PerUnit
    carbon_source: str
    price_label: str = ""
    price_short_label: str = ""
    price_stale: bool = False


class HardwareComparison(BaseModel):
    """One accelerator: on-prem TCO per busy GPU-hour vs the cheapest cloud offer per pricing model."""

    accelerator: str
    accelerator_source: str
    billing_mode: BillingMode
    utilisation_fraction: float
    onprem_usd_per_gpu_hour: float | None
    onprem_price_source: str | None
    onprem_price_date: str | None = None
    onprem_price_low_usd: float | None = None
    onprem_price_high_usd: float | None = None
    onprem_price_usd: float | None = Field(
        None, description="per-GPU purchase price used (catalog midpoint or your quote)"
    )
    onprem_price_label: str | None = Field(None, description="date of the purchase price and STALE flag")
    onprem_price_short_label: str | None = None
    onprem_price_stale: bool = False
    onprem_unit: PerUnit | None
    onprem_carbon: PerUnit | None = None
    onprem_carbon_source: str | None = None
    cloud: list[CloudOffer]
    break_even_utilisation: float | None
    comparison: Comparison | None
    notes: list[str]


def _cloud_offer(
    price: CloudPrice,
    acc: Accelerator,
    catalog: Catalog,
    onprem: OnPremAssumptions,
    cloud: CloudAssumptions,
    carbon: CarbonAssumptions,
    billing: BillingMode,
    rates: dict[str, float | None],
) -> CloudOffer:
    all_in = engine.cloud_gpu_hour_cost_usd(price, cloud)
    billed, busy = fleet_billed_gpu_hours(1, onprem.utilisation_fraction, billing, cloud)
    per_busy = all_in * billed / busy
    footprint = engine.cloud_carbon(
        price,
        acc.tdp_w or 0.0,
        onprem,
        carbon,
        catalog.grid_intensity(price.provider, price.region),
        catalog.embodied_for(acc.name),
    )
    kg_per_busy = float(footprint.kg(billed * engine.spot_overhead_factor(price, cloud), busy).sum()) / busy
    return CloudOffer(
        pricing_model=price.pricing_model,
        instance=f"{price.provider} {price.instance} {price.region}",
        usd_per_gpu_hour=price.usd_per_gpu_hour,
        usd_per_gpu_hour_all_in=all_in,
        usd_per_busy_gpu_hour=per_busy,
        derived=price.derived,
        source=price.source,
        price_date=price.price_date,
        unit=engine.per_unit_of_work(per_busy, **rates),
        carbon=engine.per_unit_of_work(kg_per_busy, **rates),
        carbon_source=f"{footprint.grid_source}; {footprint.embodied_source}",
        price_label=price.price_label,
        price_short_label=price.price_short_label,
        price_stale=price.price_stale,
    )


def compare_hardware(
    acc: Accelerator,
    catalog: Catalog,
    onprem: OnPremAssumptions,
    cloud: CloudAssumptions,
    *,
    carbon: CarbonAssumptions | None = None,
    billing: BillingMode = "always_on",
    gpu_price_usd: float | None = None,
    price_source: str | None = None,
    gpus: int = 8,
    gpus_per_server: int = 8,
    months: int = 36,
    pricing_models: tuple[PricingModel, ...] = PRICING_MODELS,
    inferences_per_s_per_gpu: float | None = None,
    tokens_per_s_per_gpu: float | None = None,
    max_age_days: int | None = None,
) -> HardwareComparison:
    """Cost and emissions of ``gpus`` x ``acc`` owned (if a price is known) vs rented under ``billing``,
    with the monthly series against the cheapest on-demand offer, break-even month and NPV. Without
    ``gpu_price_usd`` the catalog's purchase price (midpoint of its cited range) is used; every price
    carries its date and a STALE flag when older than ``max_age_days``."""
    carbon = carbon or CarbonAssumptions()
    notes: list[str] = []
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
            for p in (engine.cloud_price(i, model, cloud, max_age_days=max_age_days) for i in instances)
            if p is not None
        ]
        if not prices:
            notes.append(f"no {model} price for {acc.name} in the catalog")
            continue
        best = min(prices, key=lambda p: engine.cloud_gpu_hour_cost_usd(p, cloud))
        offers.append(_cloud_offer(best, acc, catalog, onprem, cloud, carbon, billing, rates))
        if model == "on_demand":
            best_on_demand = best
    cited = None if gpu_price_usd is not None else catalog.purchase_price(acc.name)
    age = cited.price_age(max_age_days=max_age_days) if cited else None
    price = gpu_price_usd if cited is None else cited.mid_usd
    source = price_source if cited is None else cited.describe(max_age_days=max_age_days)
    base = {
        "accelerator": acc.name,
        "accelerator_source": f"{acc.source} ({acc.source_date})",
        "billing_mode": billing,
        "utilisation_fraction": onprem.utilisation_fraction,
        "cloud": offers,
        "notes": notes,
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
            **base,
            onprem_usd_per_gpu_hour=None,
            onprem_price_source=None,
            onprem_unit=None,
            break_even_utilisation=None,
            comparison=None,
        )
    price_date = cited.source_date if cited is not None else None
    server = ServerConfig(
        accelerator=acc.name,
        gpus_per_server=min(gpus_per_server, gpus),
        gpu_price_usd=price,
        gpu_tdp_w=acc.tdp_w,
        price_source=source or "",
        price_date=price_date,
    )
    tco = engine.server_tco(server, onprem)
    footprint = engine.onprem_carbon(tco, carbon, catalog.embodied_for(acc.name))
    per_hour = engine.onprem_gpu_hour_cost_usd(tco)
    owned = engine.owned_flows(tco, 1, 1, carbon=footprint)
    kg_per_busy = float(owned.carbon_kg.sum()) / (tco.gpus * HOURS_PER_MONTH * tco.utilisation_fraction)
    comparison = None
    be_util = None
    if best_on_demand is not None:
        be_util = engine.break_even_utilisation(tco, best_on_demand, cloud)
        comparison = compare_onprem_cloud(
            tco,
            best_on_demand,
            cloud,
            gpus=gpus,
            months=months,
            billing=billing,
            label_onprem=acc.name,
            onprem_carbon=footprint,
            cloud_carbon=engine.cloud_carbon(
                best_on_demand,
                acc.tdp_w,
                onprem,
                carbon,
                catalog.grid_intensity(best_on_demand.provider, best_on_demand.region),
                catalog.embodied_for(acc.name),
            ),
        )
    return HardwareComparison(
        **base,
        onprem_usd_per_gpu_hour=per_hour,
        onprem_price_source=source,
        onprem_price_date=price_date,
        onprem_unit=engine.per_unit_of_work(per_hour, **rates),
        onprem_carbon=engine.per_unit_of_work(kg_per_busy, **rates),
        onprem_carbon_source=f"{footprint.grid_source}; {footprint.embodied_source}",
        break_even_utilisation=be_util,
        comparison=comparison,
    )
