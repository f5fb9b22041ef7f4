"""Own vs rent for one fleet: monthly cash and emissions of both, break-even month and NPV of owning.

Every figure comes from ``capplan.costs.engine``; this module only assembles the two options.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, Field

from capplan.costs import engine
from capplan.costs.cloud import CloudAssumptions, CloudPrice
from capplan.costs.engine import BillingMode, CloudCarbon, Flows, OnPremCarbon
from capplan.costs.finance import HOURS_PER_MONTH
from capplan.costs.onprem import ServerTCO


class CostSeries(BaseModel):
    """Monthly cash flow and emissions of one option (USD, kg CO2e); the residual credit is in the last
    month."""

    label: str
    monthly_usd: list[float]
    cumulative_usd: list[float]
    residual_credit_usd: float = Field(description="book value credited at the end of the horizon")
    monthly_carbon_kg: list[float]
    operational_carbon_kg: float
    embodied_carbon_kg: float
    source: str
    price_date: str | None = None
    carbon_source: str = ""

    @property
    def carbon_kg(self) -> float:
        return self.operational_carbon_kg + self.embodied_carbon_kg


def cost_series(
    label: str, flows: Flows, source: str, price_date: str | None, carbon_source: str
) -> CostSeries:
    monthly = flows.monthly_usd
    return CostSeries(
        label=label,
        monthly_usd=monthly.tolist(),
        cumulative_usd=np.cumsum(monthly).tolist(),
        residual_credit_usd=flows.residual_usd,
        monthly_carbon_kg=flows.monthly_carbon_kg.tolist(),
        operational_carbon_kg=float(flows.carbon_kg[:, engine.OPERATIONAL].sum()),
        embodied_carbon_kg=float(flows.carbon_kg[:, engine.EMBODIED].sum()),
        source=source,
        price_date=price_date,
        carbon_source=carbon_source,
    )


class Comparison(BaseModel):
    """Two options, the month owning pays back (break-even) and the NPV of owning instead of renting."""

    onprem: CostSeries
    cloud: CostSeries
    billing_mode: BillingMode
    billing_note: str
    utilisation_fraction: float
    break_even_month: int | None
    npv_savings_usd: float
    discount_rate_per_year: float


def fleet_billed_gpu_hours(
    gpus: int, utilisation: float, billing: BillingMode, a: CloudAssumptions
) -> tuple[float, float]:
    """(billed, busy) GPU-hours per month of renting ``gpus`` busy ``utilisation`` of the time."""
    fleet = gpus * HOURS_PER_MONTH
    busy = fleet * utilisation
    return float(engine.billed_gpu_hours(billing, fleet, busy, a.autoscale_floor_fraction)), busy


def compare_onprem_cloud(
    tco: ServerTCO,
    price: CloudPrice,
    cloud: CloudAssumptions,
    *,
    gpus: int,
    months: int,
    billing: BillingMode,
    label_onprem: str,
    onprem_carbon: OnPremCarbon | None = None,
    cloud_carbon: CloudCarbon | None = None,
) -> Comparison:
    """Owning enough servers for ``gpus`` vs renting ``gpus`` from ``price`` under ``billing``, both busy
    ``tco.utilisation_fraction`` of the time, over ``months``."""
    servers = math.ceil(gpus / tco.gpus)
    own = engine.owned_flows(tco, servers, months, carbon=onprem_carbon)
    billed, busy = fleet_billed_gpu_hours(gpus, tco.utilisation_fraction, billing, cloud)
    rent = engine.rented_flows(
        price, cloud, np.full(months, billed), busy=np.full(months, busy), carbon=cloud_carbon
    )
    on = cost_series(
        f"{label_onprem} x{servers} servers (on-prem)",
        own,
        tco.price_source,
        tco.price_date,
        "" if onprem_carbon is None else f"{onprem_carbon.grid_source}; {onprem_carbon.embodied_source}",
    )
    cl = cost_series(
        f"{price.provider} {price.instance} {price.pricing_model} ({billing})",
        rent,
        price.source,
        price.price_date,
        "" if cloud_carbon is None else f"{cloud_carbon.grid_source}; {cloud_carbon.embodied_source}",
    )
    return Comparison(
        onprem=on,
        cloud=cl,
        billing_mode=billing,
        billing_note=engine.BILLING_MODE_TEXT[billing],
        utilisation_fraction=tco.utilisation_fraction,
        break_even_month=engine.break_even_period(on.cumulative_usd, cl.cumulative_usd),
        npv_savings_usd=engine.npv_savings_usd(own, rent, tco.discount_rate_per_year),
        discount_rate_per_year=tco.discount_rate_per_year,
    )
