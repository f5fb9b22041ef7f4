"""Cloud cost model: price per GPU-hour by pricing model, reserved prices derived only when allowed."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from capplan.catalog.models import PRICE_MODELS, CloudInstance
from capplan.costs.assumptions import PLANNING_ASSUMPTION, AssumptionSet, assumption

PricingModel = Literal["on_demand", "reserved_1y", "reserved_3y", "spot"]
RESERVED_TERM_QUARTERS: dict[str, int] = {"reserved_1y": 4, "reserved_3y": 12}

_GCP_CUD = (
    "Google Cloud committed use discounts documentation (resource-based CUDs: 37 % 1-year, 55 % 3-year "
    "for most machine types; read 2025). AWS/Azure advertise up to 72 % for 3-year terms."
)


class CloudAssumptions(AssumptionSet):
    """Editable cloud-side assumptions."""

    derive_reserved_from_on_demand: bool = assumption(
        True,
        unit="flag",
        description="derive missing 1y/3y reserved prices from on-demand with the discounts below "
        "(off: rows without a cited reserved price offer no reserved option)",
        source=PLANNING_ASSUMPTION,
    )
    reserved_1y_discount_fraction: float = assumption(
        0.37, unit="fraction", le=0.95, description="1-year commitment discount vs on-demand", source=_GCP_CUD
    )
    reserved_3y_discount_fraction: float = assumption(
        0.55, unit="fraction", le=0.95, description="3-year commitment discount vs on-demand", source=_GCP_CUD
    )
    spot_interruption_overhead_fraction: float = assumption(
        0.10,
        unit="fraction",
        le=5.0,
        description="extra GPU-hours lost to spot interruptions (checkpoint/restart) per useful hour",
        source=PLANNING_ASSUMPTION + "; AWS Spot Instance Advisor publishes interruption-frequency bands",
    )
    storage_usd_per_gb_month: float = assumption(
        0.08,
        unit="USD/GB-month",
        description="block storage for datasets/checkpoints kept in the cloud",
        source="AWS EBS pricing page, gp3 us-east-1 ($0.08/GB-month), read 2025",
    )
    egress_usd_per_gb: float = assumption(
        0.09,
        unit="USD/GB",
        description="data transfer out to the internet",
        source="AWS EC2 on-demand pricing page, data transfer out first 10 TB/month ($0.09/GB), read 2025",
    )
    monitoring_retraining_share_of_ops: float = assumption(
        0.25,
        unit="fraction",
        le=1.0,
        description="hidden monitoring/retraining cost added on top of the cloud bill (its ops cost)",
        source="industry surveys (monitoring/retraining 25-35 % of ops; low end used)",
    )
    price_multiplier: float = assumption(
        1.0,
        unit="x",
        description="scenario knob scaling every cloud price",
        source="scenario/sensitivity knob",
    )


class CloudPrice(BaseModel):
    """Price of one instance under one pricing model, with where it came from."""

    provider: str
    instance: str
    region: str
    accelerator: str
    gpu_count: int
    pricing_model: PricingModel
    usd_per_hour: float
    usd_per_gpu_hour: float
    derived: bool
    source: str
    price_date: str = Field("", description="YYYY-MM-DD of the catalog price (on-demand's, if derived)")
    price_label: str = Field("", description="what the date is and, if too old, a STALE flag")
    price_short_label: str = Field("", description="date, basis and STALE flag, for narrow tables")
    price_stale: bool = Field(False, description="older than the price-age limit (capplan.catalog.freshness)")


def cloud_price(
    inst: CloudInstance, model: PricingModel, a: CloudAssumptions, *, max_age_days: int | None = None
) -> CloudPrice | None:
    """Instance price under ``model``: the catalog's cited figure, or a derived reserved price, or None.
    The source names the price date and flags a price older than ``max_age_days`` (default 180)."""
    if model not in PRICE_MODELS or not inst.gpu_count or not inst.gpu_name:
        return None
    price = inst.price_usd_per_hour(model)
    derived = False
    dated = model if price is not None else "on_demand"
    age = inst.price_age(dated, max_age_days=max_age_days)
    source = (
        f"catalog: {inst.provider} {inst.instance} {inst.region} ({age.label()}; {inst.price_source(dated)})"
    )
    if price is None and model in RESERVED_TERM_QUARTERS and a.derive_reserved_from_on_demand:
        on_demand = inst.price_usd_per_hour("on_demand")
        if on_demand is None:
            return None
        discount = getattr(a, f"{model}_discount_fraction")
        price = on_demand * (1.0 - discount)
        derived = True
        source = (
            f"derived: on-demand x (1 - {discount:g}) [assumption cloud.{model}_discount_fraction]; " + source
        )
    if price is None:
        return None
    price *= a.price_multiplier
    return CloudPrice(
        provider=inst.provider,
        instance=inst.instance,
        region=inst.region,
        accelerator=inst.gpu_name,
        gpu_count=inst.gpu_count,
        pricing_model=model,
        usd_per_hour=price,
        usd_per_gpu_hour=price / inst.gpu_count,
        derived=derived,
        source=source,
        price_date=age.price_date.isoformat(),
        price_label=age.label(),
        price_short_label=age.short_label(),
        price_stale=age.stale,
    )


def cloud_gpu_hour_cost_usd(price: CloudPrice, a: CloudAssumptions) -> float:
    """Cost of one useful GPU-hour: price, spot interruption overhead and monitoring/retraining share."""
    overhead = 1.0 + (a.spot_interruption_overhead_fraction if price.pricing_model == "spot" else 0.0)
    return price.usd_per_gpu_hour * overhead * (1.0 + a.monitoring_retraining_share_of_ops)


def cloud_data_cost_usd_per_month(
    storage_gb: float, egress_gb_per_month: float, a: CloudAssumptions
) -> float:
    """Storage plus egress per month for a workload kept in the cloud."""
    return storage_gb * a.storage_usd_per_gb_month + egress_gb_per_month * a.egress_usd_per_gb
