"""Unit economics and on-prem vs cloud comparison: $/GPU-hour, $/1k inferences, $/1M tokens, break-even."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel

from capplan.costs.cloud import CloudAssumptions, CloudPrice, cloud_gpu_hour_cost_usd
from capplan.costs.finance import HOURS_PER_MONTH, HOURS_PER_QUARTER, break_even_period, npv_usd
from capplan.costs.onprem import OnPremAssumptions, ServerTCO, onprem_gpu_hour_cost_usd


class UnitCosts(BaseModel):
    """Cost per unit of work at a given $/GPU-hour; None where the throughput is unknown."""

    usd_per_gpu_hour: float
    usd_per_1k_inferences: float | None = None
    usd_per_1m_tokens: float | None = None
    usd_per_training_run: float | None = None


def unit_costs(
    usd_per_gpu_hour: float,
    *,
    inferences_per_s_per_gpu: float | None = None,
    tokens_per_s_per_gpu: float | None = None,
    gpu_hours_per_run: float | None = None,
) -> UnitCosts:
    """Turn a $/GPU-hour into $/1k inferences, $/1M tokens and $/training run."""

    def per(units: float | None, scale: float) -> float | None:
        return None if not units else usd_per_gpu_hour / (units * 3600.0) * scale

    return UnitCosts(
        usd_per_gpu_hour=usd_per_gpu_hour,
        usd_per_1k_inferences=per(inferences_per_s_per_gpu, 1e3),
        usd_per_1m_tokens=per(tokens_per_s_per_gpu, 1e6),
        usd_per_training_run=None if gpu_hours_per_run is None else usd_per_gpu_hour * gpu_hours_per_run,
    )


def break_even_utilisation(
    tco: ServerTCO, a: OnPremAssumptions, cloud_usd_per_gpu_hour: float
) -> float | None:
    """Busy share of owned GPUs above which on-prem is cheaper per busy GPU-hour; None if never within 100
    %."""
    g = tco.hidden_gross_up
    energy_per_busy_gpu_hour = (
        tco.energy_usd_per_quarter / a.utilisation_fraction / HOURS_PER_QUARTER / tco.gpus * g
    )
    # cost per busy hour = fixed / u + energy per busy hour; fixed = everything but energy, per GPU-hour at u
    # = 1
    fixed = (
        onprem_gpu_hour_cost_usd(tco, a, utilisation=1.0)
        - tco.energy_usd_per_quarter / HOURS_PER_QUARTER / tco.gpus * g
    )
    margin = cloud_usd_per_gpu_hour - energy_per_busy_gpu_hour
    if margin <= 0:
        return None
    u = fixed / margin
    return u if u <= 1.0 else None


class CostSeries(BaseModel):
    """Monthly cash flow of one option and its running total (USD)."""

    label: str
    monthly_usd: list[float]
    cumulative_usd: list[float]
    source: str


class Comparison(BaseModel):
    """Two cost series, the month on-prem pays back (break-even) and the NPV of owning instead of renting."""

    onprem: CostSeries
    cloud: CostSeries
    break_even_month: int | None
    npv_savings_usd: float


def _series(label: str, monthly: np.ndarray, source: str) -> CostSeries:
    return CostSeries(
        label=label, monthly_usd=monthly.tolist(), cumulative_usd=np.cumsum(monthly).tolist(), source=source
    )


def compare_onprem_cloud(
    tco: ServerTCO,
    onprem: OnPremAssumptions,
    price: CloudPrice,
    cloud: CloudAssumptions,
    *,
    gpus: int,
    months: int,
    label_onprem: str,
    server_source: str,
) -> Comparison:
    """Cumulative cost of owning enough servers for ``gpus`` vs renting the same busy GPU-hours."""
    servers = math.ceil(gpus / tco.gpus)
    g = tco.hidden_gross_up
    # capex up front; hidden costs accrue monthly on amortised capex plus opex (as in the $/GPU-hour figure)
    amortised_per_month = tco.capex_usd / (12.0 * tco.amortisation_years)
    onprem_monthly = np.full(
        months, servers * (tco.opex_usd_per_quarter / 3.0 * g + amortised_per_month * (g - 1.0))
    )
    onprem_monthly[0] += servers * tco.capex_usd
    busy_hours = gpus * HOURS_PER_MONTH * onprem.utilisation_fraction
    cloud_monthly = np.full(months, busy_hours * cloud_gpu_hour_cost_usd(price, cloud))
    on = _series(f"{label_onprem} x{servers} servers (on-prem)", onprem_monthly, server_source)
    cl = _series(f"{price.provider} {price.instance} {price.pricing_model}", cloud_monthly, price.source)
    savings = cloud_monthly - onprem_monthly
    return Comparison(
        onprem=on,
        cloud=cl,
        break_even_month=break_even_period(on.cumulative_usd, cl.cumulative_usd),
        npv_savings_usd=npv_usd(savings, onprem.discount_rate_per_year, 12),
    )
