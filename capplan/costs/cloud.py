"""Cloud-side assumptions and the price of one instance under one pricing model (arithmetic: engine)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from capplan.catalog.models import PRICE_MODELS, PriceModel
from capplan.costs.assumptions import PLANNING_ASSUMPTION, AssumptionSet, assumption

PricingModel = PriceModel  # the catalog's vocabulary, defined once in capplan.catalog.models
PRICING_MODELS = PRICE_MODELS
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
    autoscale_floor_fraction: float = assumption(
        0.10,
        unit="fraction",
        le=1.0,
        description="autoscaled billing: share of the fleet kept running while idle (minimum replicas / "
        "warm pool); billed GPU-hours = busy + floor x idle fleet-hours",
        source=PLANNING_ASSUMPTION,
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
